package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testNow is the clock of the tests.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

// testSecret is an HS256 secret of the minimum length.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

// testKey is a private key with the kid the tests file it under, or only a
// public key (pub set, signer nil).
type testKey struct {
	kid    string
	alg    jwt.SigningMethod
	signer crypto.Signer
	pub    crypto.PublicKey
}

func (k testKey) public() crypto.PublicKey {
	if k.pub != nil {
		return k.pub
	}
	return k.signer.Public()
}

// RSA key generation is slow on a small machine: the tests share two keys,
// made once.
var rsaKeys = sync.OnceValues(func() (*rsa.PrivateKey, *rsa.PrivateKey) {
	a, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	b, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return a, b
})

func newEd25519(t testing.TB, kid string) testKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, alg: jwt.SigningMethodEdDSA, signer: priv}
}

func newP256(t testing.TB, kid string) testKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, alg: jwt.SigningMethodES256, signer: priv}
}

// newRSA returns one of the two shared RSA keys (i is 0 or 1).
func newRSA(kid string, i int) testKey {
	a, b := rsaKeys()
	k := a
	if i == 1 {
		k = b
	}
	return testKey{kid: kid, alg: jwt.SigningMethodRS256, signer: k}
}

// pemBytes encodes the public keys as PEM PUBLIC KEY blocks, with a kid
// header where the key has a kid.
func pemBytes(t testing.TB, keys ...testKey) []byte {
	t.Helper()
	var out []byte
	for _, k := range keys {
		der, err := x509.MarshalPKIXPublicKey(k.public())
		if err != nil {
			t.Fatal(err)
		}
		b := &pem.Block{Type: "PUBLIC KEY", Bytes: der}
		if k.kid != "" {
			b.Headers = map[string]string{"kid": k.kid}
		}
		out = append(out, pem.EncodeToMemory(b)...)
	}
	return out
}

// jwkOf returns the public JWK of k.
func jwkOf(t testing.TB, k testKey) map[string]string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	var m map[string]string
	switch pub := k.public().(type) {
	case ed25519.PublicKey:
		m = map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64(pub)}
	case *ecdsa.PublicKey:
		pt, err := pub.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		m = map[string]string{"kty": "EC", "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:])}
	case *rsa.PublicKey:
		m = map[string]string{"kty": "RSA", "n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
	default:
		t.Fatalf("key type %T", pub)
	}
	if k.kid != "" {
		m["kid"] = k.kid
	}
	return m
}

func jwksBytes(t testing.TB, keys ...testKey) []byte {
	t.Helper()
	set := struct {
		Keys []map[string]string `json:"keys"`
	}{Keys: []map[string]string{}}
	for _, k := range keys {
		set.Keys = append(set.Keys, jwkOf(t, k))
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func tempFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	writeFile(t, path, data)
	return path
}

// claims returns valid claims at testNow, with extra merged in (a nil
// value deletes a claim).
func claims(extra map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub":    "ada",
		"rooms":  []string{"team/*"},
		"access": "write",
		"iat":    testNow.Add(-time.Minute).Unix(),
		"exp":    testNow.Add(time.Hour).Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// sign signs c with k, setting the kid header when k has a kid.
func sign(t testing.TB, k testKey, c jwt.MapClaims) string {
	t.Helper()
	return signHeader(t, k, c, nil)
}

// signHeader is sign with extra header fields.
func signHeader(t testing.TB, k testKey, c jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.alg, c)
	if k.kid != "" {
		tok.Header["kid"] = k.kid
	}
	for name, v := range header {
		tok.Header[name] = v
	}
	s, err := tok.SignedString(k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signHS256 signs c with an arbitrary HMAC key and header fields.
func signHS256(t testing.TB, key []byte, c jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustVerifier(t testing.TB, opts VerifierOptions) *Verifier {
	t.Helper()
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	v, err := NewVerifier(opts)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}
