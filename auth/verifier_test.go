package auth

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifyAlgorithms(t *testing.T) {
	ed, ec, rs := newEd25519(t, "ed"), newP256(t, "ec"), newRSA("rs", 0)
	pemFile := tempFile(t, "keys.pem", pemBytes(t, ed, ec, rs))
	jwksFile := tempFile(t, "keys.json", jwksBytes(t, ed, ec, rs))
	want := Grant{User: "ada", Access: AccessWrite, Rooms: []string{"team/*"}, Expires: testNow.Add(time.Hour)}

	for _, file := range []string{pemFile, jwksFile} {
		v := mustVerifier(t, VerifierOptions{Secret: testSecret, KeysFile: file})
		tokens := map[string]string{
			"HS256": signHS256(t, testSecret, claims(nil), nil),
			"EdDSA": sign(t, ed, claims(nil)),
			"ES256": sign(t, ec, claims(nil)),
			"RS256": sign(t, rs, claims(nil)),
		}
		for alg, tok := range tokens {
			t.Run(filepath.Ext(file)+"/"+alg, func(t *testing.T) {
				got, err := v.Verify(tok)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if !grantEqual(got, want) {
					t.Errorf("got %+v, want %+v", got, want)
				}
			})
		}
	}
}

func grantEqual(a, b Grant) bool {
	return a.User == b.User && a.Access == b.Access && slices.Equal(a.Rooms, b.Rooms) && a.Expires.Equal(b.Expires)
}

func TestVerifyClaims(t *testing.T) {
	v := mustVerifier(t, VerifierOptions{Secret: testSecret})
	exp := testNow.Add(time.Hour)
	tests := []struct {
		name  string
		extra map[string]any
		want  Grant
	}{
		{"rooms array", nil, Grant{User: "ada", Access: AccessWrite, Rooms: []string{"team/*"}, Expires: exp}},
		{"rooms string", map[string]any{"rooms": "a/b"}, Grant{User: "ada", Access: AccessWrite, Rooms: []string{"a/b"}, Expires: exp}},
		{"access missing is read", map[string]any{"access": nil}, Grant{User: "ada", Access: AccessRead, Rooms: []string{"team/*"}, Expires: exp}},
		{"admin", map[string]any{"access": "admin"}, Grant{User: "ada", Access: AccessAdmin, Rooms: []string{"team/*"}, Expires: exp}},
		{"no sub", map[string]any{"sub": nil}, Grant{Access: AccessWrite, Rooms: []string{"team/*"}, Expires: exp}},
		{"no iat", map[string]any{"iat": nil}, Grant{User: "ada", Access: AccessWrite, Rooms: []string{"team/*"}, Expires: exp}},
		{"nbf past", map[string]any{"nbf": testNow.Add(-time.Second).Unix()}, Grant{User: "ada", Access: AccessWrite, Rooms: []string{"team/*"}, Expires: exp}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(signHS256(t, testSecret, claims(tt.extra), nil))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !grantEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	ed, ec, rs := newEd25519(t, "ed"), newP256(t, "ec"), newRSA("rs", 0)
	otherEd := newEd25519(t, "ed")  // same kid, other key: a forged signature
	unknown := newEd25519(t, "new") // a kid the file does not have
	pemData := pemBytes(t, ed, ec, rs)
	file := tempFile(t, "keys.pem", pemData)
	withSecret := mustVerifier(t, VerifierOptions{Secret: testSecret, KeysFile: file, Audience: "collabd", Issuer: "app"})
	keysOnly := mustVerifier(t, VerifierOptions{KeysFile: file})

	// The key-confusion attack: HMAC keyed with public key material an
	// attacker can get, with the kid of that key.
	rsaPEM := pemBytes(t, testKey{signer: rs.signer})
	edRaw := []byte(ed.public().(ed25519.PublicKey))
	edDER, err := x509.MarshalPKIXPublicKey(ed.public())
	if err != nil {
		t.Fatal(err)
	}
	edPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: edDER})

	aud := map[string]any{"aud": "collabd", "iss": "app"}
	good := claims(aud)
	with := func(extra map[string]any) jwt.MapClaims {
		c := claims(aud)
		for k, val := range extra {
			if val == nil {
				delete(c, k)
			} else {
				c[k] = val
			}
		}
		return c
	}
	noneTok, err := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	hs384, err := jwt.NewWithClaims(jwt.SigningMethodHS384, good).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	edWithoutKID := testKey{alg: ed.alg, signer: ed.signer}
	twoEd := mustVerifier(t, VerifierOptions{KeysFile: tempFile(t, "two.pem", pemBytes(t, ed, newEd25519(t, "ed2")))})
	oneEd := mustVerifier(t, VerifierOptions{KeysFile: tempFile(t, "one.pem", pemBytes(t, ed))})

	tests := []struct {
		name  string
		v     *Verifier
		token string
		want  error  // errors.Is target
		msg   string // in the message
	}{
		{"empty", withSecret, "", ErrNoToken, "no token"},
		{"garbage", withSecret, "not.a.token", ErrInvalidToken, "malformed"},
		{"two segments", withSecret, "abc.def", ErrInvalidToken, "malformed"},
		{"too long", withSecret, strings.Repeat("a", MaxTokenLength+1), ErrInvalidToken, "longer than"},
		{"expired", withSecret, signHS256(t, testSecret, with(map[string]any{"exp": testNow.Add(-time.Second).Unix()}), nil), ErrTokenExpired, "expired"},
		{"expired is invalid", withSecret, signHS256(t, testSecret, with(map[string]any{"exp": testNow.Unix()}), nil), ErrInvalidToken, "expired"},
		{"not yet valid", withSecret, signHS256(t, testSecret, with(map[string]any{"nbf": testNow.Add(time.Minute).Unix()}), nil), ErrInvalidToken, "not valid yet"},
		{"issued in the future", withSecret, signHS256(t, testSecret, with(map[string]any{"iat": testNow.Add(time.Minute).Unix()}), nil), ErrInvalidToken, "issued in the future"},
		{"missing exp", withSecret, signHS256(t, testSecret, with(map[string]any{"exp": nil}), nil), ErrInvalidToken, "exp claim missing"},
		{"wrong audience", withSecret, signHS256(t, testSecret, with(map[string]any{"aud": "other"}), nil), ErrInvalidToken, "wrong audience"},
		{"missing audience", withSecret, signHS256(t, testSecret, with(map[string]any{"aud": nil}), nil), ErrInvalidToken, "aud claim missing"},
		{"wrong issuer", withSecret, signHS256(t, testSecret, with(map[string]any{"iss": "evil"}), nil), ErrInvalidToken, "wrong issuer"},
		{"missing issuer", withSecret, signHS256(t, testSecret, with(map[string]any{"iss": nil}), nil), ErrInvalidToken, "iss claim missing"},
		{"missing rooms", withSecret, signHS256(t, testSecret, with(map[string]any{"rooms": nil}), nil), ErrInvalidToken, "rooms claim missing"},
		{"empty rooms", withSecret, signHS256(t, testSecret, with(map[string]any{"rooms": []string{}}), nil), ErrInvalidToken, "rooms claim is empty"},
		{"rooms of numbers", withSecret, signHS256(t, testSecret, with(map[string]any{"rooms": []int{1}}), nil), ErrInvalidToken, "rooms claim must be"},
		{"empty room pattern", withSecret, signHS256(t, testSecret, with(map[string]any{"rooms": []string{"a", ""}}), nil), ErrInvalidToken, "empty room pattern"},
		{"bad access", withSecret, signHS256(t, testSecret, with(map[string]any{"access": "root"}), nil), ErrInvalidToken, "access claim"},
		{"access none", withSecret, signHS256(t, testSecret, with(map[string]any{"access": "none"}), nil), ErrInvalidToken, "access claim"},
		{"access number", withSecret, signHS256(t, testSecret, with(map[string]any{"access": 3}), nil), ErrInvalidToken, "access claim"},
		{"wrong secret", withSecret, signHS256(t, []byte("another secret of 32 bytes......"), good, nil), ErrInvalidToken, "signature invalid"},
		{"wrong signature EdDSA", withSecret, sign(t, otherEd, good), ErrInvalidToken, "signature invalid"},
		{"alg none", withSecret, noneTok, ErrInvalidToken, "algorithm none not accepted"},
		{"alg none keys only", keysOnly, noneTok, ErrInvalidToken, "algorithm none not accepted"},
		{"HS384 not accepted", withSecret, hs384, ErrInvalidToken, "algorithm HS384 not accepted"},
		{"unknown kid", withSecret, sign(t, unknown, good), ErrInvalidToken, "unknown key id"},
		{"kid of another alg", withSecret, sign(t, testKey{kid: "rs", alg: ed.alg, signer: ed.signer}, good), ErrInvalidToken, "another algorithm"},
		{"kid not a string", withSecret, signHeader(t, edWithoutKID, good, map[string]any{"kid": 42}), ErrInvalidToken, "kid header is not a string"},
		{"no kid, several keys", twoEd, sign(t, edWithoutKID, claims(nil)), ErrInvalidToken, "several keys"},
		{"no kid, no key of alg", oneEd, sign(t, testKey{alg: ec.alg, signer: ec.signer}, claims(nil)), ErrInvalidToken, "algorithm ES256 not accepted"},
		{"crit header", withSecret, signHS256(t, testSecret, good, map[string]any{"crit": []string{"exp"}}), ErrInvalidToken, "crit"},

		// Key confusion: HS256 keyed with public key bytes. With a
		// secret configured the token is checked against the secret;
		// without one HS256 is not accepted at all.
		{"confusion RSA PEM", withSecret, signHS256(t, rsaPEM, good, map[string]any{"kid": "rs"}), ErrInvalidToken, "signature invalid"},
		{"confusion RSA PEM keys only", keysOnly, signHS256(t, rsaPEM, good, map[string]any{"kid": "rs"}), ErrInvalidToken, "algorithm HS256 not accepted"},
		{"confusion RSA PEM no kid", keysOnly, signHS256(t, rsaPEM, good, nil), ErrInvalidToken, "algorithm HS256 not accepted"},
		{"confusion Ed25519 raw", withSecret, signHS256(t, edRaw, good, map[string]any{"kid": "ed"}), ErrInvalidToken, "signature invalid"},
		{"confusion Ed25519 raw keys only", keysOnly, signHS256(t, edRaw, good, map[string]any{"kid": "ed"}), ErrInvalidToken, "algorithm HS256 not accepted"},
		{"confusion Ed25519 PEM", withSecret, signHS256(t, edPEM, good, map[string]any{"kid": "ed"}), ErrInvalidToken, "signature invalid"},
		{"confusion keys file bytes", keysOnly, signHS256(t, pemData, good, nil), ErrInvalidToken, "algorithm HS256 not accepted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := tt.v.Verify(tt.token)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", g)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to say %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), string(testSecret)) {
				t.Errorf("err = %q names the secret", err)
			}
			if errors.Is(err, ErrForbidden) || (tt.want != ErrNoToken && errors.Is(err, ErrNoToken)) {
				t.Errorf("err = %v is of the wrong kind", err)
			}
		})
	}
}

// TestKeyNeverEmptySecret checks the key lookup on its own: even if the
// algorithm list let HS256 through without a secret, the lookup would not
// hand out an empty HMAC key.
func TestKeyNeverEmptySecret(t *testing.T) {
	v := mustVerifier(t, VerifierOptions{KeysFile: tempFile(t, "k.pem", pemBytes(t, newEd25519(t, "ed")))})
	ks := v.keys.Load()
	key, err := ks.key(&jwt.Token{Method: jwt.SigningMethodHS256, Header: map[string]any{"alg": "HS256"}})
	if err == nil {
		t.Errorf("key for HS256 without a secret = %v, want an error", key)
	}
}
