package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
)

// The JWT algorithms a Verifier can accept, each tied to one Go key type:
// the key handed to the jwt library for an algorithm is only ever of that
// type, which is what defeats key confusion.
const (
	algHS256 = "HS256" // []byte, VerifierOptions.Secret and nothing else
	algEdDSA = "EdDSA" // ed25519.PublicKey
	algES256 = "ES256" // *ecdsa.PublicKey on P-256
	algRS256 = "RS256" // *rsa.PublicKey of 2048 to 8192 bits
)

// Limits of a keys file.
const (
	maxKeysFileSize = 1 << 20
	maxKeys         = 100
	minRSABits      = 2048
	maxRSABits      = 8192
)

// KeyInfo describes one public key a Verifier holds, for logs.
type KeyInfo struct {
	ID        string // the kid: given in the file, else the RFC 7638 thumbprint
	Algorithm string // "EdDSA", "ES256" or "RS256"
}

// publicKey is one verification key from a keys file.
type publicKey struct {
	kid string
	alg string
	key any // per alg, see the alg constants
}

// readKeysFile reads and parses a keys file, bounded in size.
func readKeysFile(path string) ([]publicKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read keys file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeysFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read keys file: %w", err)
	}
	if len(data) > maxKeysFileSize {
		return nil, fmt.Errorf("read keys file %s: larger than %d bytes", path, maxKeysFileSize)
	}
	keys, err := parseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("keys file %s: %w", path, err)
	}
	return keys, nil
}

// parseKeys parses a keys file: a JWKS (or a single JWK) if its first
// non-space byte is '{', else PEM. It returns at least one key, with
// distinct kids, or an error.
func parseKeys(data []byte) ([]publicKey, error) {
	var keys []publicKey
	var err error
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		keys, err = parseJWKS(t)
	} else {
		keys, err = parsePEM(data)
	}
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable public key")
	}
	if len(keys) > maxKeys {
		return nil, fmt.Errorf("more than %d keys", maxKeys)
	}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if seen[k.kid] {
			return nil, fmt.Errorf("two keys with kid %q", k.kid)
		}
		seen[k.kid] = true
	}
	return keys, nil
}

// parsePEM reads PUBLIC KEY (PKIX), RSA PUBLIC KEY (PKCS #1) and
// CERTIFICATE blocks. A block's "kid" header names its key. Text around the
// blocks is ignored, as PEM allows; a private key is an error, so that a
// misplaced secret is noticed rather than loaded.
func parsePEM(data []byte) ([]publicKey, error) {
	var keys []publicKey
	for i := 0; ; i++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if len(keys) >= maxKeys {
			return nil, fmt.Errorf("more than %d keys", maxKeys)
		}
		var pub any
		var err error
		switch {
		case b.Type == "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(b.Bytes)
		case b.Type == "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case b.Type == "CERTIFICATE":
			// Only the key is used: the certificate's dates and chain
			// are not checked, as a JWT names no certificate.
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(b.Bytes); err == nil {
				pub = cert.PublicKey
			}
		case strings.Contains(b.Type, "PRIVATE KEY"):
			return nil, fmt.Errorf("PEM block %d is a private key; give public keys only", i)
		default:
			return nil, fmt.Errorf("PEM block %d: unsupported type %q", i, truncate(b.Type, 40))
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", i, b.Type, err)
		}
		k, err := newPublicKey(pub, "")
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", i, b.Type, err)
		}
		if kid, ok := b.Headers["kid"]; ok {
			if kid == "" {
				return nil, fmt.Errorf("PEM block %d: empty kid header", i)
			}
			k.kid = kid
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM block")
	}
	return keys, nil
}

// newPublicKey checks a parsed public key and ties it to its algorithm. An
// empty kid is replaced by the key's RFC 7638 thumbprint.
func newPublicKey(pub any, kid string) (publicKey, error) {
	k := publicKey{kid: kid, key: pub}
	switch pub := pub.(type) {
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return k, errors.New("bad Ed25519 key size")
		}
		k.alg = algEdDSA
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return k, fmt.Errorf("ECDSA key on %s; only P-256 (ES256) is accepted", pub.Curve.Params().Name)
		}
		k.alg = algES256
	case *rsa.PublicKey:
		if bits := pub.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return k, fmt.Errorf("RSA key of %d bits; want %d to %d", bits, minRSABits, maxRSABits)
		}
		k.alg = algRS256
	default:
		return k, fmt.Errorf("unsupported key type %T", pub)
	}
	if k.kid == "" {
		tp, err := thumbprint(pub)
		if err != nil {
			return k, err
		}
		k.kid = tp
	}
	return k, nil
}

// thumbprint is the RFC 7638 JWK thumbprint of a public key: SHA-256 over
// the key's required JWK members, in lexical order without white space,
// base64url encoded without padding. json.Marshal of a map sorts the keys
// and escapes nothing in base64url text, which is exactly that form.
func thumbprint(pub any) (string, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	var m map[string]string
	switch pub := pub.(type) {
	case ed25519.PublicKey:
		m = map[string]string{"crv": "Ed25519", "kty": "OKP", "x": b64(pub)}
	case *ecdsa.PublicKey:
		pt, err := pub.Bytes() // 0x04 || x || y, each 32 bytes on P-256
		if err != nil {
			return "", fmt.Errorf("ECDSA key: %w", err)
		}
		n := (len(pt) - 1) / 2
		m = map[string]string{"crv": "P-256", "kty": "EC", "x": b64(pt[1 : 1+n]), "y": b64(pt[1+n:])}
	case *rsa.PublicKey:
		e := big.NewInt(int64(pub.E))
		m = map[string]string{"e": b64(e.Bytes()), "kty": "RSA", "n": b64(pub.N.Bytes())}
	default:
		return "", fmt.Errorf("unsupported key type %T", pub)
	}
	j, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(j)
	return b64(sum[:]), nil
}

// jwk holds the members of a JSON Web Key (RFC 7517) that matter here.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

// parseJWKS reads {"keys":[...]} or a single JWK. Keys this package cannot
// verify with (use other than "sig", an alg other than EdDSA, ES256 and
// RS256, other key types and curves) are skipped, as an identity provider's
// set may hold such keys next to the ones in use; a key that would be used
// but is malformed is an error.
func parseJWKS(data []byte) ([]publicKey, error) {
	var set struct {
		Keys *[]jwk `json:"keys"`
		jwk
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	var list []jwk
	switch {
	case set.Keys != nil:
		list = *set.Keys
	case set.Kty != "":
		list = []jwk{set.jwk}
	default:
		return nil, errors.New(`JWKS: no "keys" array`)
	}
	if len(list) > maxKeys {
		return nil, fmt.Errorf("more than %d keys", maxKeys)
	}
	var keys []publicKey
	for i, j := range list {
		k, ok, err := j.publicKey()
		if err != nil {
			name := fmt.Sprintf("JWKS key %d", i)
			if j.Kid != "" {
				name += fmt.Sprintf(" (kid %q)", truncate(j.Kid, 64))
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("JWKS: none of %d keys is an EdDSA, ES256 or RS256 signing key", len(list))
	}
	return keys, nil
}

// publicKey converts j; ok is false for a key to skip.
func (j jwk) publicKey() (k publicKey, ok bool, err error) {
	if j.Use != "" && j.Use != "sig" {
		return k, false, nil
	}
	var want string
	switch {
	case j.Kty == "OKP" && j.Crv == "Ed25519":
		want = algEdDSA
	case j.Kty == "EC" && j.Crv == "P-256":
		want = algES256
	case j.Kty == "RSA":
		want = algRS256
	default:
		return k, false, nil
	}
	switch j.Alg {
	case "", want:
	case algEdDSA, algES256, algRS256:
		return k, false, fmt.Errorf("alg %s does not fit a %s key", j.Alg, j.Kty)
	default:
		return k, false, nil
	}
	var pub any
	switch want {
	case algEdDSA:
		x, err := b64Member("x", j.X)
		if err != nil {
			return k, false, err
		}
		if len(x) != ed25519.PublicKeySize {
			return k, false, fmt.Errorf("x is %d bytes, want %d", len(x), ed25519.PublicKeySize)
		}
		pub = ed25519.PublicKey(x)
	case algES256:
		x, err := b64Member("x", j.X)
		if err != nil {
			return k, false, err
		}
		y, err := b64Member("y", j.Y)
		if err != nil {
			return k, false, err
		}
		if len(x) != 32 || len(y) != 32 {
			return k, false, errors.New("P-256 x and y must be 32 bytes each")
		}
		pt := append(append([]byte{4}, x...), y...)
		if pub, err = ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt); err != nil {
			return k, false, fmt.Errorf("P-256 point: %w", err)
		}
	case algRS256:
		n, err := b64Member("n", j.N)
		if err != nil {
			return k, false, err
		}
		eb, err := b64Member("e", j.E)
		if err != nil {
			return k, false, err
		}
		if len(n) > maxRSABits/8+1 {
			return k, false, fmt.Errorf("RSA key over %d bits", maxRSABits)
		}
		e := new(big.Int).SetBytes(eb)
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return k, false, errors.New("RSA exponent must be odd, at least 3 and below 2^31")
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(e.Int64())}
	}
	k, err = newPublicKey(pub, j.Kid)
	return k, err == nil, err
}

// b64Member decodes a base64url member of a JWK.
func b64Member(name, s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("missing %s", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s is not base64url: %w", name, err)
	}
	return b, nil
}
