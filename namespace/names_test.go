package namespace

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateShareName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"share", true},
		{"VMs", true},
		{"C$", true},
		{"a", true},
		{"données", true},
		{strings.Repeat("x", 80), true},
		{strings.Repeat("é", 80), true},
		{strings.Repeat("x", 81), false},
		{"", false},
		{"IPC$", false},
		{"ipc$", false},
		{"a/b", false},
		{`a\b`, false},
		{"a:b", false},
		{"a*", false},
		{"a?", false},
		{`a"`, false},
		{"a<", false},
		{"a>", false},
		{"a|b", false},
		{"a\x00b", false},
		{"a\tb", false},
		{" lead", false},
		{"trail ", false},
		{"\xff", false},
	} {
		err := ValidateShareName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateShareName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateShareName(%q) error %v does not wrap ErrInvalidName", tc.name, err)
		}
	}
}

func TestValidateUserName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"test", true},
		{"Administrator", true},
		{"jean.dupont", true},
		{"svc-sql_01", true},
		{strings.Repeat("u", 256), true},
		{strings.Repeat("u", 257), false},
		{"", false},
		{"...", false},
		{"a@b", false},
		{`dom\user`, false},
		{"a,b", false},
		{"a=b", false},
		{"a;b", false},
		{"a[b]", false},
		{"a\nb", false},
	} {
		err := ValidateUserName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateUserName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestValidatePasswordNeverEchoes(t *testing.T) {
	pw := strings.Repeat("s3cret", 50)
	err := ValidatePassword(pw)
	if err == nil {
		t.Fatal("300-character password accepted")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error %q contains the password", err)
	}
	if ValidatePassword("") == nil {
		t.Fatal("empty password accepted")
	}
}

func TestShareValidate(t *testing.T) {
	if err := (Share{Name: "s", Path: "relative/dir"}).Validate(); err == nil {
		t.Error("relative path accepted")
	}
	if err := (Share{Name: "s"}).Validate(); err == nil {
		t.Error("empty path accepted")
	}
	if err := (Share{Name: "s", Path: "/x", Comment: strings.Repeat("c", 257)}).Validate(); err == nil {
		t.Error("257-character comment accepted")
	}
	if err := (Share{Name: "s", Path: "/x", Comment: "fine"}).Validate(); err != nil {
		t.Error(err)
	}
}
