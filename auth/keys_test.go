package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestThumbprintRFCExamples(t *testing.T) {
	// RFC 7638 section 3.1 and RFC 8037 appendix A.3.
	n := rfcRSAPublic(t).N.Bytes()
	rsaJWKS := `{"keys":[{"kty":"RSA","n":"` + base64.RawURLEncoding.EncodeToString(n) + `","e":"AQAB","alg":"RS256"}]}`
	edJWKS := `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`
	tests := []struct {
		name, file, want string
	}{
		{"RSA", rsaJWKS, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"},
		{"Ed25519", edJWKS, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"},
	}
	for _, tt := range tests {
		keys, err := parseKeys([]byte(tt.file))
		if err != nil {
			t.Fatalf("%s: parseKeys: %v", tt.name, err)
		}
		if len(keys) != 1 || keys[0].kid != tt.want {
			t.Errorf("%s: kid = %q, want %q", tt.name, keys[0].kid, tt.want)
		}
	}
}

// rfcRSAPublic is the 2048-bit RSA public key of RFC 7638 section 3.1, for
// tests that need an RSA public key but no signature (generating one is
// slow, the more so under the fuzzer's coverage instrumentation).
func rfcRSAPublic(t testing.TB) *rsa.PublicKey {
	t.Helper()
	n, err := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	if err != nil {
		t.Fatal(err)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
}

func TestKeysFileFormats(t *testing.T) {
	ed, ec, rs := newEd25519(t, ""), newP256(t, "ec-1"), newRSA("", 0)
	cert := selfSigned(t)
	rsaPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(rs.public().(*rsa.PublicKey))})
	edThumb, err := thumbprint(ed.public())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want []KeyInfo
	}{
		{"PEM, kid header and thumbprint", pemBytes(t, ed, ec), []KeyInfo{{edThumb, "EdDSA"}, {"ec-1", "ES256"}}},
		{"PEM with text around", append(append([]byte("# keys of 2026\n"), pemBytes(t, ec)...), "trailer\n"...), []KeyInfo{{"ec-1", "ES256"}}},
		{"PKCS1 RSA", rsaPKCS1, nil},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"kid": "c"}, Bytes: cert}), []KeyInfo{{"c", "ES256"}}},
		{"JWKS", jwksBytes(t, ed, ec), []KeyInfo{{edThumb, "EdDSA"}, {"ec-1", "ES256"}}},
		{"JWKS with leading space", append([]byte("\n  "), jwksBytes(t, ec)...), []KeyInfo{{"ec-1", "ES256"}}},
		{"JWKS skips keys it cannot use", []byte(`{"keys":[
			{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"},
			{"kty":"EC","crv":"P-384","x":"AA","y":"AA"},
			{"kty":"RSA","alg":"PS256","n":"AQAB","e":"AQAB"},
			{"kty":"oct","k":"c2VjcmV0"},
			{"kty":"OKP","crv":"X25519","x":"AA"},
			` + mustJSON(t, jwkOf(t, ec)) + `]}`), []KeyInfo{{"ec-1", "ES256"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := parseKeys(tt.data)
			if err != nil {
				t.Fatalf("parseKeys: %v", err)
			}
			if tt.want == nil {
				if len(keys) != 1 || keys[0].alg != algRS256 {
					t.Fatalf("got %+v, want one RS256 key", keys)
				}
				return
			}
			var got []KeyInfo
			for _, k := range keys {
				got = append(got, KeyInfo{k.kid, k.alg})
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("key %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// selfSigned returns the DER of a self-signed P-256 certificate.
func selfSigned(t *testing.T) []byte {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: testNow, NotAfter: testNow}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestKeysFileRefused(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, err := x509.MarshalPKIXPublicKey(&small.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384DER, err := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	ec := newP256(t, "same")
	ec2 := newP256(t, "same")
	smallJWK := `{"keys":[{"kty":"RSA","n":"` + base64.RawURLEncoding.EncodeToString(small.N.Bytes()) + `","e":"AQAB"}]}`
	tests := []struct {
		name string
		data string
		msg  string
	}{
		{"empty", "", "no PEM block"},
		{"text only", "hello\n", "no PEM block"},
		{"RSA 1024 PEM", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: smallDER})), "RSA key of 1024 bits"},
		{"RSA 1024 JWKS", smallJWK, "RSA key of 1024 bits"},
		{"P-384 PEM", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: p384DER})), "only P-256"},
		{"private key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})), "private key"},
		{"EC private key", "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n", "private key"},
		{"unknown block", "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", `unsupported type "FOO"`},
		{"bad DER", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "PEM block 0"},
		{"empty kid header", "-----BEGIN PUBLIC KEY-----\nkid: \n\n" + base64.StdEncoding.EncodeToString(p384DER) + "\n-----END PUBLIC KEY-----\n", "PEM block 0"},
		{"duplicate kid", string(pemBytes(t, ec, ec2)), `two keys with kid "same"`},
		{"JWKS syntax", `{"keys":[`, "JWKS"},
		{"JWKS no keys member", `{"foo":1}`, `no "keys" array`},
		{"JWKS empty", `{"keys":[]}`, "none of 0 keys"},
		{"JWKS only enc keys", `{"keys":[{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}]}`, "none of 1 keys"},
		{"JWKS bad base64", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"!!"}]}`, "x is not base64url"},
		{"JWKS missing x", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k"}]}`, `JWKS key 0 (kid "k"): missing x`},
		{"JWKS short x", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}`, "x is 3 bytes"},
		{"JWKS point off curve", `{"keys":[{"kty":"EC","crv":"P-256","x":"` + strings.Repeat("A", 43) + `","y":"` + strings.Repeat("A", 43) + `"}]}`, "P-256 point"},
		{"JWKS alg mismatch", `{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"RS256","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`, "does not fit"},
		{"JWKS even exponent", `{"keys":[{"kty":"RSA","n":"AQAB","e":"Ag"}]}`, "exponent"},
		{"JWKS huge exponent", `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAAAAAA"}]}`, "exponent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := parseKeys([]byte(tt.data))
			if err == nil {
				t.Fatalf("parseKeys accepted it: %+v", keys)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to say %q", err, tt.msg)
			}
		})
	}
}

func TestNewVerifierRefuses(t *testing.T) {
	tests := []struct {
		name string
		opts VerifierOptions
		msg  string
	}{
		{"nothing", VerifierOptions{}, "neither a secret nor a keys file"},
		{"short secret", VerifierOptions{Secret: []byte("short")}, "secret of 5 bytes"},
		{"negative leeway", VerifierOptions{Secret: testSecret, Leeway: -1}, "negative leeway"},
		{"missing file", VerifierOptions{KeysFile: filepath.Join(t.TempDir(), "none.pem")}, "no such file"},
		{"too large", VerifierOptions{KeysFile: tempFile(t, "big.pem", make([]byte, maxKeysFileSize+1))}, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.opts)
			if err == nil {
				t.Fatalf("NewVerifier accepted %+v: %v", tt.opts, v)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to say %q", err, tt.msg)
			}
		})
	}
}

func TestReloadRotation(t *testing.T) {
	a, b := newEd25519(t, "a"), newRSA("b", 1)
	path := tempFile(t, "keys.pem", pemBytes(t, a))
	v := mustVerifier(t, VerifierOptions{KeysFile: path})
	tokA, tokB := sign(t, a, claims(nil)), sign(t, b, claims(nil))

	check := func(step string, wantA, wantB bool) {
		t.Helper()
		for _, c := range []struct {
			name string
			tok  string
			want bool
		}{{"A", tokA, wantA}, {"B", tokB, wantB}} {
			_, err := v.Verify(c.tok)
			if got := err == nil; got != c.want {
				t.Errorf("%s: token of %s accepted = %v (err %v), want %v", step, c.name, got, err, c.want)
			}
			if err != nil && !errors.Is(err, ErrInvalidToken) {
				t.Errorf("%s: err = %v, want ErrInvalidToken", step, err)
			}
		}
	}
	check("key A", true, false)

	writeFile(t, path, pemBytes(t, a, b))
	check("A and B written, not reloaded", true, false)
	if err := v.Reload(); err != nil {
		t.Fatalf("Reload A+B: %v", err)
	}
	check("A and B", true, true)

	writeFile(t, path, jwksBytes(t, b)) // the format may change too
	if err := v.Reload(); err != nil {
		t.Fatalf("Reload B: %v", err)
	}
	check("only B", false, true)

	writeFile(t, path, []byte("-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n"))
	if err := v.Reload(); err == nil || !strings.Contains(err.Error(), "auth: reload") {
		t.Errorf("Reload of a broken file: err = %v, want an auth: reload error", err)
	}
	check("broken file keeps B", false, true)

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := v.Reload(); err == nil {
		t.Error("Reload of a missing file: no error")
	}
	check("missing file keeps B", false, true)
	if got := v.Keys(); len(got) != 1 || got[0] != (KeyInfo{"b", "RS256"}) {
		t.Errorf("Keys() = %v, want [{b RS256}]", got)
	}
}

func TestReloadWithoutKeysFile(t *testing.T) {
	v := mustVerifier(t, VerifierOptions{Secret: testSecret})
	if err := v.Reload(); err != nil {
		t.Errorf("Reload = %v, want nil", err)
	}
	if got := v.Keys(); len(got) != 0 {
		t.Errorf("Keys() = %v, want none", got)
	}
}

// TestVerifyDuringReload runs verifications while the keys are reloaded;
// under -race it checks that a Verify never sees a half-built key set.
func TestVerifyDuringReload(t *testing.T) {
	a, b := newEd25519(t, "a"), newP256(t, "b")
	path := tempFile(t, "keys.json", jwksBytes(t, a, b))
	v := mustVerifier(t, VerifierOptions{KeysFile: path})
	tokA := sign(t, a, claims(nil))
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range 200 {
				if _, err := v.Verify(tokA); err != nil {
					t.Errorf("Verify: %v", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if err := v.Reload(); err != nil {
				t.Errorf("Reload: %v", err)
				return
			}
		}
	})
	wg.Wait()
}

func TestLeeway(t *testing.T) {
	expired := signHS256(t, testSecret, claims(map[string]any{"exp": testNow.Add(-20 * time.Second).Unix()}), nil)
	early := signHS256(t, testSecret, claims(map[string]any{"nbf": testNow.Add(20 * time.Second).Unix()}), nil)
	tests := []struct {
		leeway time.Duration
		want   bool
	}{{0, false}, {10 * time.Second, false}, {30 * time.Second, true}}
	for _, tt := range tests {
		v := mustVerifier(t, VerifierOptions{Secret: testSecret, Leeway: tt.leeway})
		for name, tok := range map[string]string{"expired": expired, "early": early} {
			g, err := v.Verify(tok)
			if got := err == nil; got != tt.want {
				t.Errorf("leeway %v, %s token: accepted = %v (%v), want %v", tt.leeway, name, got, err, tt.want)
			}
			if err == nil && name == "expired" {
				if want := testNow.Add(-20*time.Second + tt.leeway); !g.Expires.Equal(want) {
					t.Errorf("leeway %v: Expires = %v, want exp + leeway = %v", tt.leeway, g.Expires, want)
				}
			}
		}
	}
}
