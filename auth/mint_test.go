package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestMintVerifies(t *testing.T) {
	v := mustVerifier(t, VerifierOptions{Secret: testSecret, Audience: "collabd", Issuer: "app"})
	tests := []struct {
		name string
		c    MintClaims
		want Grant
	}{
		{"defaults", MintClaims{Rooms: []string{"a"}, Audience: "collabd", Issuer: "app"},
			Grant{Access: AccessRead, Rooms: []string{"a"}, Expires: testNow.Add(DefaultTokenTTL)}},
		{"all claims", MintClaims{Subject: "ada", Rooms: []string{"team/*", "lobby"}, Access: AccessAdmin, TTL: 5 * time.Minute, Audience: "collabd", Issuer: "app"},
			Grant{User: "ada", Access: AccessAdmin, Rooms: []string{"team/*", "lobby"}, Expires: testNow.Add(5 * time.Minute)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.Now = fixedNow
			tok, err := Mint(testSecret, tt.c)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			got, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !grantEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMintExpires(t *testing.T) {
	tok, err := Mint(testSecret, MintClaims{Rooms: []string{"a"}, TTL: time.Minute, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return testNow.Add(time.Minute) }
	_, err = mustVerifier(t, VerifierOptions{Secret: testSecret, Now: later}).Verify(tok)
	if !errors.Is(err, ErrTokenExpired) {
		t.Errorf("Verify a minute later: err = %v, want ErrTokenExpired", err)
	}
}

func TestMintRefuses(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		c      MintClaims
		msg    string
	}{
		{"short secret", []byte("short"), MintClaims{Rooms: []string{"a"}}, "secret of 5 bytes"},
		{"no rooms", testSecret, MintClaims{}, "no rooms"},
		{"empty room", testSecret, MintClaims{Rooms: []string{""}}, "empty room pattern"},
		{"long room", testSecret, MintClaims{Rooms: []string{strings.Repeat("x", MaxPatternLength+1)}}, "longer than"},
		{"bad access", testSecret, MintClaims{Rooms: []string{"a"}, Access: 7}, "bad access"},
		{"negative TTL", testSecret, MintClaims{Rooms: []string{"a"}, TTL: -time.Second}, "negative TTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Mint(tt.secret, tt.c)
			if err == nil {
				t.Fatalf("Mint = %q, want an error", tok)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to say %q", err, tt.msg)
			}
		})
	}
}
