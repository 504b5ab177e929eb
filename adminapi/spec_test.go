package adminapi_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"sofs.io/sofs/adminapi"
)

const specPath = "../docs/api/openapi.yaml"

type specSchema struct {
	Type                 string                `json:"type"`
	Required             []string              `json:"required"`
	Properties           map[string]specSchema `json:"properties"`
	AdditionalProperties *bool                 `json:"additionalProperties"`
	Enum                 []string              `json:"enum"`
}

type specOp struct {
	OperationID string                     `json:"operationId"`
	Security    *[]map[string][]string     `json:"security"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

type spec struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]specSchema `json:"schemas"`
	} `json:"components"`
}

func loadSpec(t *testing.T) spec {
	t.Helper()
	b, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", specPath, err)
	}
	var s spec
	if err := json.Unmarshal(j, &s); err != nil {
		t.Fatalf("%s: %v", specPath, err)
	}
	if !strings.HasPrefix(s.OpenAPI, "3.0.") {
		t.Fatalf("openapi version %q, want 3.0.x", s.OpenAPI)
	}
	return s
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// specOps returns "METHOD /path" -> operation for every operation.
func specOps(t *testing.T, s spec) map[string]specOp {
	t.Helper()
	ops := map[string]specOp{}
	for p, item := range s.Paths {
		for k, raw := range item {
			if !slices.Contains(httpMethods, k) {
				continue
			}
			var op specOp
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", k, p, err)
			}
			ops[strings.ToUpper(k)+" "+p] = op
		}
	}
	return ops
}

// TestSpecMatchesRoutes checks that every operation in openapi.yaml is a
// registered route that the handler really dispatches, and that every
// registered route is in the spec.
func TestSpecMatchesRoutes(t *testing.T) {
	s := loadSpec(t)
	ops := specOps(t, s)
	routes := adminapi.RouteKeys()
	for _, r := range routes {
		if _, ok := ops[r]; !ok {
			t.Errorf("route %s is not in %s", r, specPath)
		}
	}
	h := memHandler(t, newMemStore(), nil)
	ids := map[string]bool{}
	for key, op := range ops {
		if !slices.Contains(routes, key) {
			t.Errorf("spec operation %s has no route", key)
		}
		if op.OperationID == "" || ids[op.OperationID] {
			t.Errorf("%s: missing or duplicate operationId %q", key, op.OperationID)
		}
		ids[op.OperationID] = true
		method, path, _ := strings.Cut(key, " ")
		public := op.Security != nil && len(*op.Security) == 0
		if _, ok := op.Responses["401"]; !ok && !public {
			t.Errorf("%s needs a token but documents no 401", key)
		}
		if public && !slices.Contains([]string{"/healthz", "/readyz"}, path) {
			t.Errorf("%s is public in the spec", key)
		}
		// The handler must dispatch it: with a token, any answer but the
		// router's own not_found or method_not_allowed will do.
		target := strings.NewReplacer("{name}", "x", "{id}", "n1").Replace(path)
		rec := serve(h, method, target, []byte(`{}`))
		if rec.Code == 404 || rec.Code == 405 {
			var b adminapi.ErrorBody
			_ = json.Unmarshal(rec.Body.Bytes(), &b)
			if b.Error.Code == adminapi.CodeNotFound || b.Error.Code == adminapi.CodeMethodNotAllowed {
				t.Errorf("%s %s is not dispatched: %d %s", method, target, rec.Code, rec.Body)
			}
		}
		// Every status the handler can answer with here is documented.
		if _, ok := op.Responses[strconv.Itoa(rec.Code)]; !ok && rec.Code != 500 {
			t.Errorf("%s answered %d, which the spec does not list", key, rec.Code)
		}
	}
}

// TestSpecSchemasMatchTypes checks each schema's properties against the
// JSON fields of the Go type it describes.
func TestSpecSchemasMatchTypes(t *testing.T) {
	s := loadSpec(t)
	for name, v := range map[string]any{
		"ClusterInfo":       adminapi.ClusterInfo{},
		"NodeInfo":          adminapi.NodeInfo{},
		"NodeList":          adminapi.NodeList{},
		"Share":             adminapi.Share{},
		"ShareList":         adminapi.ShareList{},
		"ShareCreate":       adminapi.ShareCreate{},
		"ShareUpdate":       adminapi.ShareUpdate{},
		"SharePermission":   adminapi.SharePermission{},
		"User":              adminapi.User{},
		"UserList":          adminapi.UserList{},
		"UserCreate":        adminapi.UserCreate{},
		"PasswordChange":    adminapi.PasswordChange{},
		"SessionInfo":       adminapi.SessionInfo{},
		"SessionList":       adminapi.SessionList{},
		"OpenFileInfo":      adminapi.OpenFileInfo{},
		"OpenFileList":      adminapi.OpenFileList{},
		"WitnessClient":     adminapi.WitnessClient{},
		"WitnessClientList": adminapi.WitnessClientList{},
		"WitnessMove":       adminapi.WitnessMove{},
		"Status":            adminapi.Status{},
		"RefusedShare":      adminapi.RefusedShare{},
		"JoinToken":         adminapi.JoinToken{},
		"JoinTokenCreate":   adminapi.JoinTokenCreate{},
		"VolumeInfo":        adminapi.VolumeInfo{},
		"VolumeList":        adminapi.VolumeList{},
		"VolumeCreate":      adminapi.VolumeCreate{},
		"Error":             adminapi.ErrorBody{},
	} {
		sc, ok := s.Components.Schemas[name]
		if !ok {
			t.Errorf("schema %s missing", name)
			continue
		}
		want := jsonFields(reflect.TypeOf(v))
		var got []string
		for p := range sc.Properties {
			got = append(got, p)
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("schema %s has properties %v, Go type has %v", name, got, want)
		}
		for _, r := range sc.Required {
			if !slices.Contains(want, r) {
				t.Errorf("schema %s requires unknown property %s", name, r)
			}
		}
		// Request bodies reject unknown fields; the spec must say so.
		if strings.HasSuffix(name, "Create") || strings.HasSuffix(name, "Update") || name == "PasswordChange" {
			if sc.AdditionalProperties == nil || *sc.AdditionalProperties {
				t.Errorf("schema %s must set additionalProperties: false", name)
			}
		}
	}
	// The inner error object matches ErrorDetail.
	errDetail := jsonFields(reflect.TypeOf(adminapi.ErrorDetail{}))
	var got []string
	for p := range s.Components.Schemas["Error"].Properties["error"].Properties {
		got = append(got, p)
	}
	sort.Strings(got)
	if !slices.Equal(got, errDetail) {
		t.Errorf("Error.error properties %v, Go has %v", got, errDetail)
	}
}

func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// TestSpecErrorCodes checks that the spec's error code enum is exactly the
// Code constants in errors.go.
func TestSpecErrorCodes(t *testing.T) {
	s := loadSpec(t)
	enum := slices.Clone(s.Components.Schemas["Error"].Properties["error"].Properties["code"].Enum)
	sort.Strings(enum)
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || !strings.HasPrefix(vs.Names[0].Name, "Code") || len(vs.Values) != 1 {
			return true
		}
		if lit, ok := vs.Values[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			v, _ := strconv.Unquote(lit.Value)
			codes = append(codes, v)
		}
		return true
	})
	sort.Strings(codes)
	if len(codes) < 10 || !slices.Equal(enum, codes) {
		t.Errorf("spec error codes %v\nerrors.go codes %v", enum, codes)
	}
}
