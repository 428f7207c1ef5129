// Package authn is grantql's identity: it says who the caller of a
// request is, from grantql's own API tokens or from a JWT of a configured
// OIDC issuer, behind one small interface (Authenticator) that every
// transport uses. It verifies what it can without the database (a JWT's
// signature and claims) when a request arrives, and looks the user up
// once, later, in the statement that also loads the grants the request's
// first check reads (Viewer.User), so that a cold check still costs one
// statement.
package authn
