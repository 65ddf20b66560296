package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultTokenTTL is the lifetime of a minted token when MintClaims.TTL is
// zero.
const DefaultTokenTTL = time.Hour

// MintClaims say what a minted token grants.
type MintClaims struct {
	Subject string   // "sub"; empty: no sub claim
	Rooms   []string // "rooms": names and patterns, at least one
	Access  Access   // "access"; zero (AccessNone) means AccessRead
	// TTL is the time from Now to "exp"; zero: DefaultTokenTTL.
	TTL time.Duration
	// Audience and Issuer, when set, become "aud" and "iss".
	Audience, Issuer string
	// Now tells the time for "iat" and "exp"; nil: time.Now.
	Now func() time.Time
}

// mintedClaims is the claims set Mint signs.
type mintedClaims struct {
	jwt.RegisteredClaims
	Rooms  []string `json:"rooms"`
	Access string   `json:"access"`
}

// Mint signs an HS256 token with secret (at least MinSecretLength bytes)
// that a Verifier with the same secret accepts. It is for the
// `collabd token` command and tests.
func Mint(secret []byte, c MintClaims) (string, error) {
	if len(secret) < MinSecretLength {
		return "", fmt.Errorf("auth: mint: secret of %d bytes; want at least %d", len(secret), MinSecretLength)
	}
	if len(c.Rooms) == 0 {
		return "", errors.New("auth: mint: no rooms")
	}
	if err := checkPatterns(c.Rooms); err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	if c.Access == AccessNone {
		c.Access = AccessRead
	}
	if c.Access < AccessRead || c.Access > AccessAdmin {
		return "", fmt.Errorf("auth: mint: bad access level %d", int(c.Access))
	}
	switch {
	case c.TTL == 0:
		c.TTL = DefaultTokenTTL
	case c.TTL < 0:
		return "", errors.New("auth: mint: negative TTL")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	now := c.Now()
	claims := mintedClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.Subject,
			Issuer:    c.Issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(c.TTL)),
		},
		Rooms:  c.Rooms,
		Access: c.Access.String(),
	}
	if c.Audience != "" {
		claims.Audience = jwt.ClaimStrings{c.Audience}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return s, nil
}
