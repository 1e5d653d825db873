// Package server is the image store's HTTPS server (imagestore serve):
// TLS 1.3 with a self-signed certificate made on first start (or a
// CA-issued one), logins that give short-lived session tokens, slowed
// down after failures, enumeration filtered by the user's token, the dedup
// query, resumable tus uploads of delta WIMs (tusd's file store with the
// server's own checks around it), and finalize, which publishes an upload
// through store.Add. store/PROTOCOL.md describes the protocol; package
// store/protocol defines its wire types.
package server
