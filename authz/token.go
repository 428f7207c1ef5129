package authz

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// tokenBytes is the entropy of an API token: 256 bits, beyond guessing.
const tokenBytes = 32

// TokenPrefix starts every API token, so that a leaked one is easy to spot
// in logs and by secret scanners.
const TokenPrefix = "gq_"

// NewToken returns a fresh random API token and the hash to store for it.
func NewToken() (secret, hash string) {
	b := make([]byte, tokenBytes)
	rand.Read(b) // crypto/rand.Read never fails (it panics instead)
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashToken(secret)
}

// HashToken returns the hex SHA-256 of a token, the only form stored. A
// fast hash is enough: the token has 256 random bits, so there is no
// dictionary to slow down.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	return hex.EncodeToString(sum[:])
}
