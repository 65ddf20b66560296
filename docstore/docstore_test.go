package docstore

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"room", true},
		{"a/b/../c", true},
		{"ünïcödé 文档 🦆", true},
		{"tab\tand\nnewline", true},
		{strings.Repeat("x", MaxNameLen), true},
		{strings.Repeat("é", MaxNameLen/2), true},
		{"", false},
		{strings.Repeat("x", MaxNameLen+1), false},
		{strings.Repeat("é", MaxNameLen/2) + "x", false},
		{"bad\xff", false},
		{"\xc3", false}, // truncated sequence
		{"nul\x00", false},
	}
	for _, tt := range tests {
		err := CheckName(tt.name)
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("CheckName(%.20q…) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestTriggerValid(t *testing.T) {
	tests := []struct {
		t  Trigger
		ok bool
	}{
		{TriggerHibernate, true},
		{TriggerThreshold, true},
		{TriggerRestore, true},
		{TriggerManual, true},
		{"import-v2_x", true},
		{Trigger(strings.Repeat("a", 32)), true},
		{Trigger(strings.Repeat("a", 33)), false},
		{"", false},
		{"Manual", false},
		{"two words", false},
		{"é", false},
	}
	for _, tt := range tests {
		if got := tt.t.Valid(); got != tt.ok {
			t.Errorf("Trigger(%q).Valid() = %v, want %v", tt.t, got, tt.ok)
		}
	}
}

func TestRetentionExpired(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	// Newest first, one per hour, the newest one 10 hours old.
	var vs []Version
	for i := range 5 {
		vs = append(vs, Version{ID: int64(5 - i), Created: now.Add(-time.Duration(10+i) * time.Hour)})
	}
	tests := []struct {
		name string
		r    Retention
		want []int64
	}{
		{"zero keeps all", Retention{}, nil},
		{"keep last 2", Retention{KeepLast: 2}, []int64{3, 2, 1}},
		{"keep last 1", Retention{KeepLast: 1}, []int64{4, 3, 2, 1}},
		{"keep last more than there are", Retention{KeepLast: 9}, nil},
		{"negative keep last keeps all", Retention{KeepLast: -1}, nil},
		{"max age 12h (exactly 12h old is kept)", Retention{MaxAge: 12 * time.Hour}, []int64{2, 1}},
		{"max age 13h", Retention{MaxAge: 13 * time.Hour}, []int64{1}},
		{"max age never removes the newest", Retention{MaxAge: time.Minute}, []int64{4, 3, 2, 1}},
		{"either limit removes", Retention{KeepLast: 4, MaxAge: 12 * time.Hour}, []int64{2, 1}},
		{"either limit removes (2)", Retention{KeepLast: 2, MaxAge: 24 * time.Hour}, []int64{3, 2, 1}},
	}
	for _, tt := range tests {
		if got := tt.r.Expired(vs, now); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Expired = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := (Retention{KeepLast: 1}).Expired(nil, now); got != nil {
		t.Errorf("Expired(nil) = %v", got)
	}
}

func TestCheckList(t *testing.T) {
	tests := []struct {
		after     string
		limit     int
		wantLimit int
		wantErr   error
	}{
		{"", 10, 10, nil},
		{"", 1, 1, nil},
		{"", MaxList, MaxList, nil},
		{"", MaxList + 1, MaxList, nil},
		{"", 0, MaxList, nil},
		{"", -5, MaxList, nil},
		{"room/7", 25, 25, nil},
		{"nul\x00", 10, 0, ErrInvalidName},
		{"bad\xff", 10, 0, ErrInvalidName},
		{strings.Repeat("x", MaxNameLen+1), 10, 0, ErrInvalidName},
	}
	for _, tt := range tests {
		got, err := CheckList(tt.after, tt.limit)
		if got != tt.wantLimit || !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
			t.Errorf("CheckList(%.20q, %d) = %d, %v; want %d, %v", tt.after, tt.limit, got, err, tt.wantLimit, tt.wantErr)
		}
	}
}
