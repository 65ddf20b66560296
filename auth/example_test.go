package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/collabd/collabd/auth"
)

// A server verifies the request's token, then checks the grant against the
// room and the level the route needs.
func Example() {
	secret := []byte("an example secret of 32 bytes...")
	v, err := auth.NewVerifier(auth.VerifierOptions{Secret: secret})
	if err != nil {
		panic(err)
	}
	token, err := auth.Mint(secret, auth.MintClaims{Subject: "ada", Rooms: []string{"team/*"}, Access: auth.AccessRead})
	if err != nil {
		panic(err)
	}

	status := func(room string, need auth.Access, token string) int {
		g, err := v.Authorize(context.Background(), auth.Request{Room: room, Token: token})
		switch {
		case errors.Is(err, auth.ErrNoToken), errors.Is(err, auth.ErrInvalidToken):
			return http.StatusUnauthorized
		case errors.Is(err, auth.ErrUnavailable):
			return http.StatusServiceUnavailable
		case err != nil, !g.Allows(room, need):
			return http.StatusForbidden
		}
		return http.StatusOK
	}
	fmt.Println(status("team/notes", auth.AccessRead, token))
	fmt.Println(status("team/notes", auth.AccessWrite, token))
	fmt.Println(status("other", auth.AccessRead, token))
	fmt.Println(status("team/notes", auth.AccessRead, ""))
	fmt.Println(status("team/notes", auth.AccessRead, token+"x"))
	// Output:
	// 200
	// 403
	// 403
	// 401
	// 401
}
