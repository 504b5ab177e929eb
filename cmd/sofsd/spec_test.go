package main

import (
	"reflect"
	"strings"
	"testing"

	"sofs.io/sofs/namespace"
)

func TestParseShareSpec(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want namespace.Share
		err  string
	}{
		{spec: "share=/tmp/sofs/share", want: namespace.Share{Name: "share", Path: "/tmp/sofs/share"}},
		{spec: "vms=/csv/vms,ca,encrypt", want: namespace.Share{Name: "vms", Path: "/csv/vms", ContinuouslyAvailable: true, EncryptData: true}},
		{spec: "img=/csv/img,readonly,guest,comment=Golden images, do not edit", want: namespace.Share{Name: "img", Path: "/csv/img", ReadOnly: true, Guest: true, Comment: "Golden images, do not edit"}},
		{spec: "x=/p,CA,ReadOnly", want: namespace.Share{Name: "x", Path: "/p", ContinuouslyAvailable: true, ReadOnly: true}},
		{spec: "c=/p,comment=", want: namespace.Share{Name: "c", Path: "/p"}},
		{spec: "eq=/p,comment=a=b,ca", want: namespace.Share{Name: "eq", Path: "/p", Comment: "a=b,ca"}},
		{spec: "/p", err: "NAME=PATH"},
		{spec: "noequals", err: "NAME=PATH"},
		{spec: "=/p", err: "empty"},
		{spec: "s=", err: "empty path"},
		{spec: "s=,ca", err: "empty path"},
		{spec: "IPC$=/p", err: "reserved"},
		{spec: "a:b=/p", err: "contains"},
		{spec: "p=/p,allow=Everyone:read,deny=bob:Change,allow=S-1-5-11:full", want: namespace.Share{Name: "p", Path: "/p", Permissions: []namespace.SharePermission{
			{Account: "Everyone", Access: "read"}, {Account: "bob", Access: "Change", Deny: true}, {Account: "S-1-5-11", Access: "full"}}}},
		{spec: "a=/p,abe", want: namespace.Share{Name: "a", Path: "/p", AccessBasedEnumeration: true}},
		{spec: "s=/p,allow=bob:write", err: `access "write"`},
		{spec: "s=/p,allow=bob", err: `unknown option "allow=bob"`},
		{spec: "s=/p,fast", err: `unknown option "fast"`},
		{spec: "s=/p,,ca", err: `unknown option ""`},
	} {
		got, err := parseShareSpec(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseShareSpec(%q) err = %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseShareSpec(%q): %v", tc.spec, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseShareSpec(%q) = %+v, want %+v", tc.spec, got, tc.want)
		}
	}
	// A relative, unclean, root or system path is refused, not resolved.
	for spec, want := range map[string]string{
		"rel=some/dir":         "not absolute",
		"rel=./x":              "not absolute",
		"up=/srv/x/../../etc":  "not clean",
		"slash=/srv/x/":        "not clean",
		"root=/":               "root directory",
		"etc=/etc":             "system directory /etc",
		"proc=/proc/self/root": "system directory /proc",
		"varlib=/var/lib,ca":   "system directory /var/lib",
	} {
		if got, err := parseShareSpec(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseShareSpec(%q) = %+v, %v; want an error with %q", spec, got, err, want)
		}
	}
}

func TestParseUserSpec(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want userSpec
		ok   bool
	}{
		{"test:test123", userSpec{"test", "test123"}, true},
		{"u:pa:ss", userSpec{"u", "pa:ss"}, true},
		{"nocolon", userSpec{}, false},
		{":pw", userSpec{}, false},
		{"u:", userSpec{}, false},
		{"a@b:pw", userSpec{}, false},
	} {
		got, err := parseUserSpec(tc.spec)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseUserSpec(%q) = %+v, %v", tc.spec, got, err)
		}
		if err != nil && strings.Contains(err.Error(), "test123") {
			t.Errorf("error echoes a password: %v", err)
		}
	}
}

// FuzzParseShareSpec checks that the --share parser never panics and that
// whatever it accepts is a valid share with an absolute path.
func FuzzParseShareSpec(f *testing.F) {
	for _, s := range []string{"share=/tmp/s", "vms=/csv/vms,ca,encrypt,readonly,guest,comment=x, y", "a=b", "=,", "x=/p,comment="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		sh, err := parseShareSpec(spec)
		if err != nil {
			return
		}
		if err := sh.Validate(); err != nil {
			t.Fatalf("accepted %q giving invalid share: %v", spec, err)
		}
	})
}
