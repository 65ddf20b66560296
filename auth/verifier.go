package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretLength is the shortest HS256 secret accepted, in bytes: RFC 7518
// asks for a key at least as long as the hash.
const MinSecretLength = 32

// MaxTokenLength is the longest token Verify looks at, in bytes.
const MaxTokenLength = 16 << 10

// VerifierOptions configure a Verifier. At least one of Secret and KeysFile
// is needed.
type VerifierOptions struct {
	// Secret is the HS256 shared secret, at least MinSecretLength bytes.
	// Empty: HS256 tokens are refused.
	Secret []byte
	// KeysFile is the path of a PEM or JWKS file of public keys (see the
	// package comment). Empty: only HS256 tokens are accepted.
	KeysFile string
	// Audience, when set, must be one of the token's "aud" values.
	Audience string
	// Issuer, when set, must equal the token's "iss".
	Issuer string
	// Leeway is the clock skew allowed when checking exp, nbf and iat;
	// Grant.Expires is exp plus Leeway. Zero: none.
	Leeway time.Duration
	// Now tells the time; nil: time.Now.
	Now func() time.Time
}

// Verifier verifies JWTs and turns their claims into Grants. Its methods
// are safe for concurrent use, Reload included: a Verify sees the keys from
// before or after a Reload, never a mixture.
type Verifier struct {
	opts     VerifierOptions // a copy, never changed after NewVerifier
	reloadMu sync.Mutex      // serialises Reload, so the last file read wins
	keys     atomic.Pointer[keySet]
}

// keySet is one generation of keys with the parser that accepts their
// algorithms. It is not changed once published.
type keySet struct {
	secret           []byte
	keys             []publicKey
	algs             []string
	audience, issuer string // as configured, for error messages
	parser           *jwt.Parser
}

// NewVerifier checks opts and loads opts.KeysFile.
func NewVerifier(opts VerifierOptions) (*Verifier, error) {
	if len(opts.Secret) == 0 && opts.KeysFile == "" {
		return nil, errors.New("auth: new verifier: neither a secret nor a keys file")
	}
	if len(opts.Secret) > 0 && len(opts.Secret) < MinSecretLength {
		return nil, fmt.Errorf("auth: new verifier: secret of %d bytes; want at least %d", len(opts.Secret), MinSecretLength)
	}
	if opts.Leeway < 0 {
		return nil, errors.New("auth: new verifier: negative leeway")
	}
	opts.Secret = bytes.Clone(opts.Secret)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	v := &Verifier{opts: opts}
	var keys []publicKey
	if opts.KeysFile != "" {
		var err error
		if keys, err = readKeysFile(opts.KeysFile); err != nil {
			return nil, fmt.Errorf("auth: new verifier: %w", err)
		}
	}
	v.keys.Store(v.newKeySet(keys))
	return v, nil
}

// Reload re-reads the keys file, for key rotation (the server calls it on
// SIGHUP). On error the keys in use stay and the error is returned. Without
// a keys file it does nothing.
func (v *Verifier) Reload() error {
	if v.opts.KeysFile == "" {
		return nil
	}
	v.reloadMu.Lock()
	defer v.reloadMu.Unlock()
	keys, err := readKeysFile(v.opts.KeysFile)
	if err != nil {
		return fmt.Errorf("auth: reload: %w", err)
	}
	v.keys.Store(v.newKeySet(keys))
	return nil
}

// Keys lists the public keys in use.
func (v *Verifier) Keys() []KeyInfo {
	ks := v.keys.Load()
	info := make([]KeyInfo, len(ks.keys))
	for i, k := range ks.keys {
		info[i] = KeyInfo{ID: k.kid, Algorithm: k.alg}
	}
	return info
}

func (v *Verifier) newKeySet(keys []publicKey) *keySet {
	ks := &keySet{secret: v.opts.Secret, keys: keys, audience: v.opts.Audience, issuer: v.opts.Issuer}
	if len(ks.secret) > 0 {
		ks.algs = append(ks.algs, algHS256)
	}
	for _, k := range keys {
		if !slices.Contains(ks.algs, k.alg) {
			ks.algs = append(ks.algs, k.alg)
		}
	}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(ks.algs),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.opts.Leeway),
		jwt.WithTimeFunc(v.opts.Now),
	}
	if v.opts.Audience != "" {
		popts = append(popts, jwt.WithAudience(v.opts.Audience))
	}
	if v.opts.Issuer != "" {
		popts = append(popts, jwt.WithIssuer(v.opts.Issuer))
	}
	ks.parser = jwt.NewParser(popts...)
	return ks
}

// Authorize verifies req.Token (ErrNoToken if it is empty) and returns its
// grant. It does not look at req.Room, and so never returns ErrForbidden:
// the server checks the grant with Grant.Allows.
func (v *Verifier) Authorize(_ context.Context, req Request) (Grant, error) {
	return v.Verify(req.Token)
}

// Verify checks a token's signature and claims and returns its grant. The
// error wraps ErrNoToken for an empty token, else ErrInvalidToken (or is
// ErrTokenExpired) and says what is wrong.
func (v *Verifier) Verify(token string) (Grant, error) {
	if token == "" {
		return Grant{}, ErrNoToken
	}
	if len(token) > MaxTokenLength {
		return Grant{}, invalidToken(fmt.Sprintf("longer than %d bytes", MaxTokenLength), nil)
	}
	ks := v.keys.Load()
	var c tokenClaims
	tok, err := ks.parser.ParseWithClaims(token, &c, ks.key)
	if err != nil {
		return Grant{}, ks.tokenError(err, tok, &c)
	}
	// Expires includes the leeway, so that a server timer set from it
	// ends a connection when Verify would start refusing the token.
	g := Grant{User: c.Subject, Access: AccessRead, Expires: c.ExpiresAt.Add(v.opts.Leeway)}
	switch {
	case !c.Rooms.set:
		return Grant{}, invalidToken("rooms claim missing", nil)
	case c.Rooms.bad:
		return Grant{}, invalidToken("rooms claim must be a string or an array of strings", nil)
	case len(c.Rooms.list) == 0:
		return Grant{}, invalidToken("rooms claim is empty", nil)
	}
	if err := checkPatterns(c.Rooms.list); err != nil {
		return Grant{}, invalidToken("rooms claim: "+err.Error(), nil)
	}
	g.Rooms = c.Rooms.list
	if c.Access.set {
		a, err := ParseAccess(c.Access.s)
		if c.Access.bad || err != nil || a == AccessNone {
			return Grant{}, invalidToken(`access claim must be "read", "write" or "admin"`, nil)
		}
		g.Access = a
	}
	return g, nil
}

// Errors of the key lookup, reported inside the jwt library's error.
var (
	errKIDNotString = errors.New("kid header is not a string")
	errUnknownKID   = errors.New("unknown key id")
	errKIDAlg       = errors.New("key id names a key of another algorithm")
	errNoKey        = errors.New("no key for the algorithm")
	errNeedKID      = errors.New("several keys fit and the token has no kid")
	errCrit         = errors.New("crit header not supported")
)

// key is the jwt.Keyfunc: it returns the one key that may verify t. The
// library has already checked that t's alg is one of ks.algs, and the key's
// Go type is the one that alg's verifier requires, so an HS256 token is
// only ever checked against the secret, never against a public key's bytes.
//
// HS256 ignores kid (there is one secret). For the others, a kid must name
// a key of the token's alg; a token without kid is accepted only when
// exactly one key of its alg is loaded.
func (ks *keySet) key(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		// RFC 7515: a recipient must refuse extensions it does not know.
		return nil, errCrit
	}
	alg := t.Method.Alg()
	if alg == algHS256 {
		if len(ks.secret) == 0 {
			// Unreachable while HS256 is only in ks.algs with a
			// secret, but an empty HMAC key is one anybody can sign
			// with, so it is refused here as well.
			return nil, errNoKey
		}
		return ks.secret, nil
	}
	if raw, ok := t.Header["kid"]; ok {
		kid, ok := raw.(string)
		if !ok {
			return nil, errKIDNotString
		}
		for _, k := range ks.keys {
			if k.kid == kid {
				if k.alg != alg {
					return nil, errKIDAlg
				}
				return k.key, nil
			}
		}
		return nil, errUnknownKID
	}
	var found *publicKey
	for i := range ks.keys {
		if ks.keys[i].alg == alg {
			if found != nil {
				return nil, errNeedKID
			}
			found = &ks.keys[i]
		}
	}
	if found == nil {
		return nil, errNoKey
	}
	return found.key, nil
}

// tokenError turns an error of the jwt library into one of ours, whose
// message is a fixed phrase: it names nothing the token supplied beyond a
// registered algorithm name. The library's error stays reachable through
// errors.As for logs.
func (ks *keySet) tokenError(err error, tok *jwt.Token, c *tokenClaims) error {
	for _, e := range []error{errKIDNotString, errUnknownKID, errKIDAlg, errNoKey, errNeedKID, errCrit} {
		if errors.Is(err, e) {
			return invalidToken(e.Error(), err)
		}
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalidToken("malformed", err)
	case tok != nil && tok.Method == nil:
		return invalidToken("unknown or missing alg", err)
	case tok != nil && !slices.Contains(ks.algs, tok.Method.Alg()):
		return invalidToken(fmt.Sprintf("algorithm %s not accepted", tok.Method.Alg()), err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return invalidToken("signature invalid", err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return &causeError{msg: ErrTokenExpired.Error(), kind: ErrTokenExpired, cause: err}
	case c.ExpiresAt == nil:
		return invalidToken("exp claim missing", err)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return invalidToken("not valid yet", err)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return invalidToken("issued in the future", err)
	case ks.audience != "" && len(c.Audience) == 0:
		return invalidToken("aud claim missing", err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return invalidToken("wrong audience", err)
	case ks.issuer != "" && c.Issuer == "":
		return invalidToken("iss claim missing", err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return invalidToken("wrong issuer", err)
	}
	return invalidToken("unverifiable", err)
}

func invalidToken(reason string, cause error) error {
	return &causeError{msg: ErrInvalidToken.Error() + ": " + reason, kind: ErrInvalidToken, cause: cause}
}

// tokenClaims are the claims Verify reads.
type tokenClaims struct {
	jwt.RegisteredClaims
	Rooms  roomsClaim  `json:"rooms"`
	Access accessClaim `json:"access"`
}

// roomsClaim reads "rooms": an array of strings or one string. A value of
// another type is noted rather than failing the JSON decoding, so that the
// error, reported after the signature is checked, says what is wrong.
type roomsClaim struct {
	set, bad bool
	list     []string
}

func (r *roomsClaim) UnmarshalJSON(b []byte) error {
	*r = roomsClaim{}
	if string(b) == "null" {
		return nil
	}
	r.set = true
	var one string
	if json.Unmarshal(b, &one) == nil {
		r.list = []string{one}
		return nil
	}
	if json.Unmarshal(b, &r.list) != nil {
		r.list, r.bad = nil, true
	}
	return nil
}

// accessClaim reads "access", a string, noting a value of another type.
type accessClaim struct {
	set, bad bool
	s        string
}

func (a *accessClaim) UnmarshalJSON(b []byte) error {
	*a = accessClaim{}
	if string(b) == "null" {
		return nil
	}
	a.set = true
	a.bad = json.Unmarshal(b, &a.s) != nil
	return nil
}
