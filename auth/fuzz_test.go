package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// The fuzz targets make no RSA key: generating one under the fuzzer's
// coverage instrumentation takes a minute. They use the RFC 7638 key.

func FuzzParseKeys(f *testing.F) {
	ed, ec := newEd25519(f, "ed"), newP256(f, "")
	rs := testKey{kid: "rs", alg: jwt.SigningMethodRS256, pub: rfcRSAPublic(f)}
	f.Add(pemBytes(f, ed, ec, rs))
	f.Add(pemBytes(f, ed))
	f.Add(jwksBytes(f, ed, ec, rs))
	f.Add(jwksBytes(f, ec))
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"},{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nkid: a\n\nAAAA\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte(""))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseKeys(data)
		if err != nil {
			if keys != nil {
				t.Errorf("keys %v with error %v", keys, err)
			}
			return
		}
		if len(keys) == 0 || len(keys) > maxKeys {
			t.Fatalf("%d keys without error", len(keys))
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if k.kid == "" || seen[k.kid] {
				t.Errorf("empty or repeated kid %q", k.kid)
			}
			seen[k.kid] = true
			// The key's Go type is the one its alg's verifier takes.
			var ok bool
			switch k.alg {
			case algEdDSA:
				_, ok = k.key.(ed25519.PublicKey)
			case algES256:
				_, ok = k.key.(*ecdsa.PublicKey)
			case algRS256:
				var pub *rsa.PublicKey
				pub, ok = k.key.(*rsa.PublicKey)
				ok = ok && pub.N.BitLen() >= minRSABits
			}
			if !ok {
				t.Errorf("key %q: alg %q with a %T", k.kid, k.alg, k.key)
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	ed, ec := newEd25519(f, "ed"), newP256(f, "ec")
	rs := testKey{kid: "rs", alg: jwt.SigningMethodRS256, pub: rfcRSAPublic(f)}
	path := tempFile(f, "keys.pem", pemBytes(f, ed, ec, rs))
	v := mustVerifier(f, VerifierOptions{Secret: testSecret, KeysFile: path, Audience: "collabd"})
	good := claims(map[string]any{"aud": "collabd"})
	f.Add(signHS256(f, testSecret, good, nil))
	f.Add(sign(f, ed, good))
	f.Add(sign(f, ec, good))
	// An RS256 token for the RSA key, with a signature that cannot be right.
	b64 := base64.RawURLEncoding.EncodeToString
	payload := strings.Split(sign(f, ed, good), ".")[1]
	f.Add(b64([]byte(`{"alg":"RS256","kid":"rs"}`)) + "." + payload + "." + b64(make([]byte, 256)))
	f.Add(signHS256(f, pemBytes(f, rs), good, map[string]any{"kid": "rs"}))
	f.Add(signHS256(f, testSecret, claims(map[string]any{"rooms": 5, "access": []int{}}), map[string]any{"kid": 1}))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
	f.Add(none)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJIUzI1NiJ9..")
	f.Add(strings.Repeat(".", 100))
	f.Fuzz(func(t *testing.T, token string) {
		g, err := v.Verify(token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrNoToken) {
				t.Errorf("err = %v, neither ErrInvalidToken nor ErrNoToken", err)
			}
			return
		}
		if len(g.Rooms) == 0 || g.Access < AccessRead || g.Access > AccessAdmin || g.Expires.IsZero() {
			t.Errorf("accepted with grant %+v", g)
		}
	})
}

func FuzzMatchRoom(f *testing.F) {
	for _, s := range [][2]string{
		{"team/*", "team/a/b"}, {"a*b*c", "axxbyyc"}, {"?", "日"}, {"*?*", ""},
		{"a*a*a*b", "aaaaaaaaaa"}, {"[a].+", "[a].+"}, {`\*`, `\x`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if len(pattern) > 64 || len(name) > 64 {
			return // the reference below is slow on long input
		}
		got := matchRoom(pattern, name)
		if !utf8.ValidString(pattern) || !utf8.ValidString(name) {
			return // no panic is all that is asked of invalid UTF-8
		}
		// Reference: the glob as an anchored regular expression.
		var re strings.Builder
		re.WriteString(`^(?s:`)
		for _, r := range pattern {
			switch r {
			case '*':
				re.WriteString(`.*`)
			case '?':
				re.WriteString(`.`)
			default:
				re.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		re.WriteString(`)$`)
		want := regexp.MustCompile(re.String()).MatchString(name)
		if got != want {
			t.Errorf("matchRoom(%q, %q) = %v, want %v", pattern, name, got, want)
		}
	})
}

func FuzzDecodeHookAnswer(f *testing.F) {
	for _, s := range []string{
		`{"access":"write","user":"ada","rooms":["team/*"],"expires":"2026-06-01T13:00:00Z"}`,
		`{"access":"read","expires":1780318800.5}`,
		`{"access":"none","reason":"no"}`,
		`{"access":"admin","rooms":[]}`,
		`{"access":"read","expires":1e300}`,
		`{"access":1}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(s), "room")
	}
	f.Fuzz(func(t *testing.T, answer []byte, room string) {
		g, err := decodeHookAnswer(answer, room, testNow)
		if err != nil {
			if !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrForbidden) && !errors.Is(err, ErrTokenExpired) {
				t.Errorf("err = %v of an unexpected kind", err)
			}
			return
		}
		if g.Access < AccessRead || g.Access > AccessAdmin || g.ExpiredAt(testNow) {
			t.Errorf("allowed with grant %+v", g)
		}
		if len(g.Rooms) > 0 && checkPatterns(g.Rooms) != nil && (len(g.Rooms) != 1 || g.Rooms[0] != room) {
			t.Errorf("grant with bad patterns %q", g.Rooms)
		}
	})
}
