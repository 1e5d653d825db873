package slapdtest

import (
	"fmt"
	"strconv"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The directories' administrators (slapd rootdn) and the store's service
// account of CONTOSO. Test passwords only.
const (
	AdminDN         = "cn=admin,dc=contoso,dc=test"
	ExampleAdminDN  = "cn=admin,dc=example,dc=org"
	AdminPassword   = "admin secret 9f3k"
	ServiceDN       = "cn=imagestore,ou=Service,dc=contoso,dc=test"
	ServicePassword = "service secret Qx7w"
	ContosoBase     = "dc=contoso,dc=test"
	ExampleBase     = "dc=example,dc=org"
)

// DomainSID is CONTOSO's domain SID; accounts are DomainSID-RID.
const DomainSID = "S-1-5-21-1004336348-1177238915-682003330"

// Passwords of the fixture's users: each user's password is
// Password(login).
func Password(login string) string { return "pw-" + login + "-Zq8!" }

// adModelSchema models the Active Directory attributes the directory
// backend reads, so that its Active Directory code paths run against a
// real server. It is NOT Active Directory: slapd gives these attributes
// no meaning (it does not refuse a disabled account's bind, keep
// primaryGroupID out of member, nor know LDAP_MATCHING_RULE_IN_CHAIN or
// tokenGroups), and the OIDs are test OIDs (2.25.x, from a UUID), not
// Microsoft's. What the backend does with the values — ACCOUNTDISABLE,
// accountExpires, the primary group from objectSid and primaryGroupID,
// BUILTIN groups by SID — is what these tests check.
const adModelSchema = `
attributetype ( 2.25.234344237316515403264637905005320407979.1 NAME 'sAMAccountName'
	EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{256} SINGLE-VALUE )
attributetype ( 2.25.234344237316515403264637905005320407979.2 NAME 'userPrincipalName'
	EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 2.25.234344237316515403264637905005320407979.3 NAME 'userAccountControl'
	EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 2.25.234344237316515403264637905005320407979.4 NAME 'accountExpires'
	EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 2.25.234344237316515403264637905005320407979.5 NAME 'objectSid'
	EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 2.25.234344237316515403264637905005320407979.6 NAME 'primaryGroupID'
	EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 2.25.234344237316515403264637905005320407979.7 NAME 'sAMAccountType'
	EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 2.25.234344237316515403264637905005320407979.8 NAME 'groupType'
	EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 2.25.234344237316515403264637905005320407979.100 NAME 'user'
	SUP organizationalPerson STRUCTURAL MUST sAMAccountName
	MAY ( userPrincipalName $ userAccountControl $ accountExpires $ objectSid $
		primaryGroupID $ sAMAccountType $ mail $ displayName ) )
objectclass ( 2.25.234344237316515403264637905005320407979.101 NAME 'group'
	SUP top STRUCTURAL MUST ( cn $ sAMAccountName )
	MAY ( member $ objectSid $ groupType $ sAMAccountType $ description ) )
`

// Active Directory's sAMAccountType values and userAccountControl flags.
const (
	samUser           = 805306368 // SAM_NORMAL_USER_ACCOUNT
	samGroup          = 268435456 // SAM_GROUP_OBJECT
	samAlias          = 536870912 // SAM_ALIAS_OBJECT (domain local, builtin)
	uacNormal         = 0x200
	uacNormalDisabled = 0x202
)

// Users of CONTOSO (the Active Directory model), by sAMAccountName:
//
//	jdoe        Imaging Techs (⊂ Deployment Admins ⊂ BUILTIN\Administrators), Cycle A (⊂ Cycle B ⊂ Cycle A),
//	            Ops (EU) (⊂ Ops All); primary group Domain Users
//	asmith      UPN alice.smith@corp.contoso.test; Secret Project, "Smith, Family" (⊂ Family Readers)
//	labtech     primary group Lab Staff (⊂ Lab Readers), no member attribute names labtech
//	olduser     disabled (userAccountControl ACCOUNTDISABLE)
//	contractor  accountExpires 2020-01-01
//	eve         Domain Users only
//
// Users of EXAMPLE (OpenLDAP: inetOrgPerson, groupOfNames), by uid:
//
//	alice    imaging (⊂ deployers)
//	bob      no group
//	locked   pwdAccountLockedTime 000001010000Z
//	expired  shadowExpire 1000 (1972)
var (
	contosoEntries = []any{ // *ldap.AddRequest or *ldap.ModifyRequest
		add("ou=Users,dc=contoso,dc=test", "objectClass", "organizationalUnit", "ou", "Users"),
		add("ou=Groups,dc=contoso,dc=test", "objectClass", "organizationalUnit", "ou", "Groups"),
		add("ou=Service,dc=contoso,dc=test", "objectClass", "organizationalUnit", "ou", "Service"),
		add("cn=Builtin,dc=contoso,dc=test", "objectClass", "organizationalRole", "cn", "Builtin"),
		add(ServiceDN, "objectClass", "person", "cn", "imagestore", "sn", "imagestore", "userPassword", ServicePassword),
		adUser("jdoe", "Jane Doe", 1105, 513, "jdoe@contoso.test", uacNormal, 0),
		adUser("asmith", "Alice Smith", 1106, 513, "alice.smith@corp.contoso.test", uacNormal, 0),
		adUser("labtech", "Lab Tech", 1107, 1110, "labtech@contoso.test", uacNormal, 0),
		adUser("olduser", "Old User", 1108, 513, "olduser@contoso.test", uacNormalDisabled, 0),
		adUser("contractor", "Con Tractor", 1109, 513, "contractor@contoso.test", uacNormal,
			TimeToFiletime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))),
		adUser("eve", "Eve", 1111, 513, "eve@contoso.test", uacNormal, 9223372036854775807),
		adGroup("Domain Users", 513),
		adGroup("Imaging Techs", 1200, userDN("jdoe")),
		adGroup("Deployment Admins", 1201, groupDN("Imaging Techs")),
		adGroup("Lab Staff", 1110),
		adGroup("Lab Readers", 1202, groupDN("Lab Staff")),
		adGroup("Secret Project", 1203, userDN("asmith")),
		adGroup("Cycle A", 1204, userDN("jdoe")),
		adGroup("Cycle B", 1205, groupDN("Cycle A")),
		addMember(groupDN("Cycle A"), groupDN("Cycle B")),
		adGroup("Ops (EU)", 1206, userDN("jdoe")),
		adGroup("Ops All", 1207, `cn=Ops (EU),ou=Groups,dc=contoso,dc=test`),
		adGroup("Smith, Family", 1208, userDN("asmith")),
		adGroup("Family Readers", 1209, `cn=Smith\, Family,ou=Groups,dc=contoso,dc=test`),
		builtinGroup("Administrators", 544, groupDN("Deployment Admins")),
	}
	exampleEntries = []any{
		add("ou=People,dc=example,dc=org", "objectClass", "organizationalUnit", "ou", "People"),
		add("ou=Groups,dc=example,dc=org", "objectClass", "organizationalUnit", "ou", "Groups"),
		posixUser("alice"),
		posixUser("bob"),
		posixUser("locked", "pwdAccountLockedTime", "000001010000Z"),
		posixUser("expired", "objectClass", "shadowAccount", "shadowExpire", "1000"),
		add("cn=imaging,ou=Groups,dc=example,dc=org", "objectClass", "groupOfNames", "cn", "imaging",
			"member", "uid=alice,ou=People,dc=example,dc=org"),
		add("cn=deployers,ou=Groups,dc=example,dc=org", "objectClass", "groupOfNames", "cn", "deployers",
			"member", "cn=imaging,ou=Groups,dc=example,dc=org"),
	}
)

// addMember adds a member to an existing group (a cycle needs both groups
// to exist first).
func addMember(group, member string) *ldap.ModifyRequest {
	m := ldap.NewModifyRequest(group, nil)
	m.Add("member", []string{member})
	return m
}

// TimeToFiletime converts t to FILETIME (100 ns since 1601), the unit of
// accountExpires.
func TimeToFiletime(t time.Time) int64 {
	return t.Unix()*1e7 + int64(t.Nanosecond())/100 + 116444736000000000
}

func userDN(sam string) string   { return "cn=" + sam + ",ou=Users,dc=contoso,dc=test" }
func groupDN(name string) string { return "cn=" + name + ",ou=Groups,dc=contoso,dc=test" }

func add(dn string, kv ...string) *ldap.AddRequest {
	r := ldap.NewAddRequest(dn, nil)
	vals := map[string][]string{}
	var order []string
	for i := 0; i+1 < len(kv); i += 2 {
		if _, ok := vals[kv[i]]; !ok {
			order = append(order, kv[i])
		}
		vals[kv[i]] = append(vals[kv[i]], kv[i+1])
	}
	for _, k := range order {
		r.Attribute(k, vals[k])
	}
	return r
}

// SID returns the binary objectSid of the CONTOSO account with rid.
func SID(rid uint32) []byte { return sidBytes(5, 21, 1004336348, 1177238915, 682003330, rid) }

func sidBytes(authority uint64, sub ...uint32) []byte {
	b := []byte{1, byte(len(sub)), 0, 0, 0, 0, 0, byte(authority)}
	for _, v := range sub {
		b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
	}
	return b
}

func adUser(sam, name string, rid, primary uint32, upn string, uac int, expires int64) *ldap.AddRequest {
	kv := []string{"objectClass", "user", "cn", sam, "sn", name, "displayName", name, "sAMAccountName", sam,
		"userPrincipalName", upn, "sAMAccountType", strconv.Itoa(samUser), "userAccountControl", strconv.Itoa(uac),
		"objectSid", string(SID(rid)), "primaryGroupID", strconv.Itoa(int(primary)), "userPassword", Password(sam)}
	if expires != 0 {
		kv = append(kv, "accountExpires", strconv.FormatInt(expires, 10))
	}
	return add(userDN(sam), kv...)
}

func adGroup(name string, rid uint32, members ...string) *ldap.AddRequest {
	kv := []string{"objectClass", "group", "cn", name, "sAMAccountName", name, "sAMAccountType", strconv.Itoa(samGroup),
		"groupType", "-2147483646", "objectSid", string(SID(rid))}
	for _, m := range members {
		kv = append(kv, "member", m)
	}
	return add(`cn=`+ldap.EscapeDN(name)+`,ou=Groups,dc=contoso,dc=test`, kv...)
}

func builtinGroup(name string, rid uint32, members ...string) *ldap.AddRequest {
	kv := []string{"objectClass", "group", "cn", name, "sAMAccountName", name, "sAMAccountType", strconv.Itoa(samAlias),
		"groupType", "-2147483643", "objectSid", string(sidBytes(5, 32, rid))}
	for _, m := range members {
		kv = append(kv, "member", m)
	}
	return add("cn="+name+",cn=Builtin,dc=contoso,dc=test", kv...)
}

func posixUser(uid string, more ...string) *ldap.AddRequest {
	kv := append([]string{"objectClass", "inetOrgPerson", "uid", uid, "cn", uid, "sn", uid,
		"userPassword", Password(uid)}, more...)
	return add("uid="+uid+",ou=People,dc=example,dc=org", kv...)
}

// seed adds the fixture entries (once: the data survives Stop/Resume).
func (s *Server) seed() error {
	example, err := ldap.DialURL(s.LDAPURL)
	if err != nil {
		return err
	}
	defer example.Close()
	if err := example.Bind(ExampleAdminDN, AdminPassword); err != nil {
		return err
	}
	for _, db := range []struct {
		conn    *ldap.Conn
		base    string
		dc      string
		entries []any
	}{
		{s.admin, ContosoBase, "contoso", contosoEntries},
		{example, ExampleBase, "example", exampleEntries},
	} {
		root := add(db.base, "objectClass", "dcObject", "objectClass", "organization", "dc", db.dc, "o", db.dc)
		if err := db.conn.Add(root); err != nil {
			return fmt.Errorf("seed %s: %w", db.base, err)
		}
		for _, e := range db.entries {
			switch e := e.(type) {
			case *ldap.AddRequest:
				err = db.conn.Add(e)
				if err != nil {
					err = fmt.Errorf("seed %s: %w", e.DN, err)
				}
			case *ldap.ModifyRequest:
				err = db.conn.Modify(e)
				if err != nil {
					err = fmt.Errorf("seed %s: %w", e.DN, err)
				}
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}
