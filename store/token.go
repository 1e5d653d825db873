package store

import "strings"

// Token is an authenticated user as the store checks ACLs against it: the
// user's own principal name and every group the user belongs to (nested
// groups included), all in DOMAIN\name form.
type Token struct {
	User   string
	Groups []string
}

// Has reports whether principal names the user or one of the user's groups.
// Principal names compare case-insensitively, as Windows compares them.
func (t Token) Has(principal string) bool {
	if strings.EqualFold(t.User, principal) {
		return true
	}
	for _, g := range t.Groups {
		if strings.EqualFold(g, principal) {
			return true
		}
	}
	return false
}
