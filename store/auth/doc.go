// Package auth authenticates the users of the image store and turns them
// into store.Tokens.
//
// The Authenticator interface is what the server calls: Authenticate checks
// a name and password, Lookup builds a user's token without one (for
// `imagestore list --as`). The embedded default backend is a users file
// (UsersFile): DOMAIN\user principals with argon2id password hashes and
// groups of principals, written crash-safely with mode 0600. Chain puts
// several backends together (a directory, package ldapauth, and the users
// file; package authconfig builds the store's) and adds the users file's
// groups to every token, so a file group may name directory users and
// groups.
//
// Names come in three forms, all resolving to one account: DOMAIN\user,
// user@domain and a bare user name (see ParseName).
package auth
