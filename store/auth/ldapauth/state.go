package ldapauth

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Attributes that mark an account disabled or expired, and those of the
// primary group (Active Directory).
const (
	attrUAC            = "userAccountControl"
	attrAccountExpires = "accountExpires"
	attrObjectSID      = "objectSid"
	attrPrimaryGroupID = "primaryGroupID"
	attrLockedTime     = "pwdAccountLockedTime"
	attrShadowExpire   = "shadowExpire"
)

// uacAccountDisable is userAccountControl's ACCOUNTDISABLE flag.
const uacAccountDisable = 0x2

// adNever is accountExpires' "never" besides 0.
const adNever = 1<<63 - 1

// filetimeUnixEpoch is 1970-01-01 in FILETIME (100 ns since 1601-01-01).
const filetimeUnixEpoch = 116444736000000000

// ppolicyPermanentLock is the pwdAccountLockedTime value with which an
// administrator locks an account until they unlock it.
const ppolicyPermanentLock = "000001010000Z"

// refusal says why a directory account may not log in; "" when it may.
//
// Active Directory: ACCOUNTDISABLE in userAccountControl, or an
// accountExpires in the past. Active Directory refuses such a bind
// itself too; the check here also covers Lookup, which binds as nobody.
//
// OpenLDAP: pwdAccountLockedTime set to 000001010000Z (ppolicy's
// "locked by an administrator"), or shadowExpire (days since 1970) that
// has come. A timed ppolicy lockout (any other pwdAccountLockedTime) is
// left to the server: it refuses the bind while the lockout lasts, and
// only it knows the policy's duration. slapd does not enforce
// shadowExpire on binds at all: this check is what does.
//
// A value that cannot be read refuses the account (fail closed).
func refusal(kind string, get func(string) string, now time.Time) string {
	if kind == KindAD {
		if v := get(attrUAC); v != "" {
			uac, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Sprintf("unreadable %s %q", attrUAC, v)
			}
			if uac&uacAccountDisable != 0 {
				return "the account is disabled"
			}
		}
		if v := get(attrAccountExpires); v != "" {
			t, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Sprintf("unreadable %s %q", attrAccountExpires, v)
			}
			if t > 0 && t != adNever {
				exp := filetimeToTime(t)
				if !now.Before(exp) {
					return "the account expired on " + exp.UTC().Format(time.RFC3339)
				}
			}
		}
		return ""
	}
	if v := get(attrLockedTime); v == ppolicyPermanentLock {
		return "the account is locked by an administrator (pwdAccountLockedTime)"
	}
	if v := strings.TrimSpace(get(attrShadowExpire)); v != "" {
		days, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Sprintf("unreadable %s %q", attrShadowExpire, v)
		}
		if days > 0 && days <= 1<<40 && now.Unix()/86400 >= days {
			return "the account expired on " + time.Unix(days*86400, 0).UTC().Format(time.DateOnly)
		}
	}
	return ""
}

// filetimeToTime converts a positive FILETIME to a time.
func filetimeToTime(ft int64) time.Time {
	d := ft - filetimeUnixEpoch // 100 ns units since 1970
	return time.Unix(d/1e7, (d%1e7)*100)
}

// TimeToFiletime converts t to a FILETIME, the unit of accountExpires.
func TimeToFiletime(t time.Time) int64 {
	return t.Unix()*1e7 + int64(t.Nanosecond())/100 + filetimeUnixEpoch
}

// adBindRefusal reads the reason code Active Directory puts into the
// diagnostic message of a refused bind ("... AcceptSecurityContext
// error, data 533, v4563") and returns what it means for an account that
// exists but may not log in; "" when the code says nothing of the kind
// (52e: a wrong password) or there is none.
func adBindRefusal(diag string) string {
	_, rest, ok := strings.Cut(diag, ", data ")
	if !ok {
		return ""
	}
	code, _, _ := strings.Cut(rest, ",")
	switch strings.ToLower(strings.TrimSpace(code)) {
	case "530":
		return "logons are not permitted at this time"
	case "531":
		return "logons are not permitted from this workstation"
	case "532":
		return "the password has expired"
	case "533":
		return "the account is disabled"
	case "701":
		return "the account has expired"
	case "773":
		return "the user must change the password"
	case "775":
		return "the account is locked out"
	}
	return ""
}
