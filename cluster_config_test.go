package collabd

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestClusterConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		wantBus string
		wantID  string
	}{
		{"off by default", nil, nil, "", "nats://127.0.0.1:4222", ""},
		{"needs postgres", []string{"--cluster"}, nil, "--cluster needs the PostgreSQL store", "", ""},
		{"needs postgres, from the environment", nil, map[string]string{"COLLABD_CLUSTER": "true"}, "--cluster needs the PostgreSQL store", "", ""},
		{"flags", []string{"--cluster", "--database-url", "postgres://x/y", "--bus-url", "nats://10.0.0.1:4222", "--node-id", "a1"}, nil, "", "nats://10.0.0.1:4222", "a1"},
		{"environment", nil, map[string]string{"COLLABD_CLUSTER": "1", "COLLABD_DATABASE_URL": "postgres://x/y", "COLLABD_NODE_ID": "b2", "COLLABD_BUS_URL": "nats://h:1"}, "", "nats://h:1", "b2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, env(tt.env), &bytes.Buffer{})
			if tt.wantErr != "" {
				var ue usageError
				if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want a usage error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.cluster.busURL != tt.wantBus || (tt.wantID != "" && c.cluster.nodeID != tt.wantID) {
				t.Fatalf("bus %q node %q, want %q %q", c.cluster.busURL, c.cluster.nodeID, tt.wantBus, tt.wantID)
			}
		})
	}
}

func TestSanitizeNodeID(t *testing.T) {
	for in, want := range map[string]string{"host.example.com": "hostexamplecom", "": "node", "a_b-C9": "a_b-C9", "ü.ß": "node"} {
		if got := sanitizeNodeID(in); got != want {
			t.Errorf("sanitizeNodeID(%q) = %q, want %q", in, got, want)
		}
	}
	if got := sanitizeNodeID(strings.Repeat("x", 100)); len(got) != 64 {
		t.Errorf("a long host name gives %d characters, want 64", len(got))
	}
}
