// Package ldapauth authenticates the image store's users against a
// directory: Active Directory (or AD LDS, Samba AD) or an LDAP server such
// as OpenLDAP, with github.com/go-ldap/ldap/v3.
//
// A Backend implements auth.Authenticator for one domain. DOMAIN\user,
// user@domain (the UPN, or the login name at the domain's DNS name) and a
// bare user name find the same entry; the password is checked with a
// simple bind as that entry, over LDAPS or StartTLS (an empty password is
// refused before the directory is asked: servers take it as an anonymous
// bind). Accounts the directory marks disabled or expired are refused
// (see refusal for the attributes read).
//
// A token is the user's DOMAIN\login plus every group the user is in:
// nested groups through the member attribute (Active Directory's
// LDAP_MATCHING_RULE_IN_CHAIN in one search where the server announces
// Active Directory, a bounded level-by-level walk elsewhere), and on
// Active Directory the primary group, which member and memberOf leave
// out (the group whose objectSid is the user's domain SID with the
// primaryGroupID RID). Built-in groups (S-1-5-32-...) are BUILTIN\name.
//
// Tokens are cached for Config.CacheTTL, so that a server that checks a
// session's token on every request asks the directory at most once per
// user and TTL. A directory that cannot be reached gives an
// *auth.UnavailableError (the server answers 503), never "unknown user".
// Searches run as a service account whose password comes from a file or
// an environment variable and never reaches a log or an error.
package ldapauth
