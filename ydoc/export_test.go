package ydoc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The fixtures are recorded from real Yjs by testdata/export/gen.mjs
// (node ydoc/testdata/export/gen.mjs from the repo root).

type exportFixtures struct {
	Yjs   string          `json:"yjs"`
	Cases []exportFixture `json:"cases"`
}

type exportFixture struct {
	Name   string                `json:"name"`
	Note   string                `json:"note"`
	GC     bool                  `json:"gc"`
	Update string                `json:"update"`
	Roots  map[string]exportRoot `json:"roots"`
}

type exportRoot struct {
	As          string          `json:"as"`
	Inferred    string          `json:"inferred"`
	JSON        json.RawMessage `json:"json"`
	String      *string         `json:"string"`
	Delta       json.RawMessage `json:"delta"`
	ProseMirror json.RawMessage `json:"prosemirror"`
}

var kindNames = map[string]Kind{
	"text": KindText, "xmltext": KindXMLText, "map": KindMap, "array": KindArray,
	"xmlfragment": KindXMLFragment, "xmlelement": KindXMLElement, "xmlhook": KindXMLHook,
}

func loadExportFixtures(tb testing.TB) []exportFixture {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "export", "fixtures.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var f exportFixtures
	if err := json.Unmarshal(raw, &f); err != nil {
		tb.Fatal(err)
	}
	return f.Cases
}

func (c *exportFixture) doc(tb testing.TB) *Doc {
	tb.Helper()
	u, err := base64.StdEncoding.DecodeString(c.Update)
	if err != nil {
		tb.Fatal(err)
	}
	d := New(Options{KeepHistory: !c.GC})
	if err := d.ApplyUpdate(u); err != nil {
		tb.Fatalf("%s: %v", c.Name, err)
	}
	return d
}

func fixture(tb testing.TB, name string) *Doc {
	tb.Helper()
	for _, c := range loadExportFixtures(tb) {
		if c.Name == name {
			return c.doc(tb)
		}
	}
	tb.Fatalf("no fixture %q", name)
	return nil
}

// sameJSON compares a Go value with recorded JSON, both decoded.
func sameJSON(t *testing.T, what string, got any, want json.RawMessage) {
	t.Helper()
	g, err := roundTripJSON(got)
	if err != nil {
		t.Errorf("%s: marshal: %v", what, err)
		return
	}
	var w any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: fixture: %v", what, err)
	}
	if d := firstDiff(w, g, what); d != "" {
		t.Error(d)
	}
}

func TestExportFixtures(t *testing.T) {
	for _, c := range loadExportFixtures(t) {
		t.Run(c.Name, func(t *testing.T) {
			d := c.doc(t)
			all := d.ToJSON()
			for name, r := range c.Roots {
				k, ok := kindNames[r.As]
				if !ok {
					t.Fatalf("%s: unknown kind %q", name, r.As)
				}
				typ := d.RootAs(name, k)
				if typ.Kind() != k {
					t.Errorf("%s: Kind() = %v, want %v", name, typ.Kind(), k)
				}
				sameJSON(t, name+".JSON", typ.JSON(), r.JSON)
				if r.String != nil {
					if got := typ.String(); got != *r.String {
						t.Errorf("%s.String():\n got  %q\n want %q", name, got, *r.String)
					}
				} else {
					// Map and Array: String is the JSON text.
					sameJSON(t, name+".String", json.RawMessage(typ.String()), r.JSON)
				}
				if r.Delta != nil {
					sameJSON(t, name+".Delta", typ.Delta(), r.Delta)
				} else if typ.Delta() != nil {
					t.Errorf("%s: Delta() = %v for a %v", name, typ.Delta(), k)
				}
				if r.ProseMirror != nil {
					sameJSON(t, name+".ProseMirrorJSON", typ.ProseMirrorJSON(), r.ProseMirror)
				}
				want := kindNames[r.Inferred]
				if got := d.RootKind(name); got != want {
					t.Errorf("RootKind(%q) = %v, want %v", name, got, want)
				}
				if got := d.RootAs(name, want).JSON(); !jsonEq(t, all[name], got) {
					t.Errorf("ToJSON()[%q] = %v, want %v", name, all[name], got)
				}
				if s := typ.XML(); (k == KindMap || k == KindArray) && s != "" {
					t.Errorf("%s: XML() = %q for a %v", name, s, k)
				}
				checkWellFormed(t, name, typ.XML())
			}
		})
	}
}

func jsonEq(t *testing.T, a, b any) bool {
	t.Helper()
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return bytes.Equal(x, y)
}

// checkWellFormed parses s as the content of an XML element.
func checkWellFormed(t *testing.T, what, s string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader("<root>" + s + "</root>"))
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Errorf("%s: XML() is not well-formed: %v\n%s", what, err, s)
			return
		}
	}
}

func TestXML(t *testing.T) {
	pm := fixture(t, "xml-prosemirror").RootAs("prosemirror", KindXMLFragment)
	want := `<heading level="2">Title &amp; &lt;stuff&gt;</heading>` +
		`<paragraph textAlign="center">plain <bold>bold</bold>` +
		`<italic><link href="https://x/?a=1&amp;b=&quot;2&quot;"> link</link></italic>` +
		`<comment--1 id="c1"><comment--2 id="c2" resolved="false"> commented</comment--2></comment--1>` +
		`<code> code</code><color value="#f00"> color</color></paragraph>` +
		`<image alt="null" src="https://img/1" width="12.5"/>` +
		`<bullet_list><list_item><paragraph>item😀</paragraph></list_item></bullet_list>` +
		`<horizontal_rule/>`
	if got := pm.XML(); got != want {
		t.Errorf("XML():\n got  %s\n want %s", got, want)
	}

	x := fixture(t, "xml-attributes").RootAs("xml", KindXMLFragment)
	want = `<customNode _10="ten" _1st="digit" _2="two" B="upper" a="lower" arr="[1,null,[2,3],{&quot;z&quot;:1},&quot;w&quot;]"` +
		` bad_name="spaces" bigint="42" bin="AQI=" emptyobj="{}" exp="1e+21" f="false" float="0.1" int="7" nan="null" null="null"` +
		` obj="{&quot;x&quot;:1,&quot;y&quot;:[2]}" str="a &quot;q&quot; &lt;b&gt; &amp; c" t="true" tiny="1.5e-7"` +
		` ymap="{&quot;k&quot;:1}" ytext="attr text" ünï="x" _="astral"/>` + // "\uffef" also becomes "_": dropped
		`<ΟΔΟΣ/><İSTANBUL/>` +
		`<span value="abc">top</span>-<a value="[1,2]">level</a> text &lt;&amp;&gt;<em><inline k="v"/></em><em>ctl` + "\uFFFD&#13;\n" + `</em>` +
		`<outer><inner/>t</outer>`
	if got := x.XML(); got != want {
		t.Errorf("XML():\n got  %s\n want %s", got, want)
	}
	checkWellFormed(t, "xml-attributes", x.XML())

	// A Y.Text renders like a Y.XmlText; maps and arrays have no XML.
	txt := fixture(t, "text-formatting").RootAs("text", KindText)
	want = `<bold>Hello</bold> <color value="#ff0000"><italic>wo</italic></color>` +
		`<bold><color value="#ff0000"><italic>r</italic></color></bold><color value="#ff0000"><italic>ld</italic></color>` +
		`<bold>, this </bold>is<link href="https://example.com/" target="_blank"> bol</link>d` +
		`<flag value="false"><list value="[1,&quot;two&quot;,null]"><size value="12"> an</size></list></flag>d italic.` +
		`<underline> tail</underline> plain`
	if got := txt.XML(); got != want {
		t.Errorf("text XML():\n got  %s\n want %s", got, want)
	}
	if got := fixture(t, "map-values").RootAs("map", KindMap).XML(); got != "" {
		t.Errorf("map XML() = %q, want empty", got)
	}
}

// TestRootAs checks that a root read as one kind does not change how it is
// read as another, or the document.
func TestRootAs(t *testing.T) {
	d := fixture(t, "xml-prosemirror")
	state := d.EncodeStateAsUpdate(nil)
	names := d.RootNames()

	asText := d.RootAs("prosemirror", KindText)
	asXML := d.RootAs("prosemirror", KindXMLFragment)
	if asText.String() != "" {
		t.Errorf("fragment read as text: %q, want \"\" (its text is inside elements)", asText.String())
	}
	if !strings.HasPrefix(asXML.String(), `<heading level="2">`) {
		t.Errorf("fragment read as xml: %q", asXML.String())
	}
	// Read as text, the fragment's elements are embedded types.
	if got := asText.Delta(); len(got) != 5 || got[0].Insert != `<heading level="2">Title & <stuff></heading>` || got[4].Insert != "<horizontal_rule></horizontal_rule>" {
		t.Errorf("fragment read as text: Delta() = %#v", got)
	}
	if asXML.Delta() != nil {
		t.Errorf("fragment read as xml: Delta() = %#v, want nil", asXML.Delta())
	}
	if got := d.RootAs("prosemirror", KindArray).JSON().([]any); len(got) != 5 || got[0] != `<heading level="2">Title & <stuff></heading>` {
		t.Errorf("fragment read as array: %v", got)
	}
	if got := d.RootAs("prosemirror", KindMap).JSON(); !jsonEq(t, got, map[string]any{}) {
		t.Errorf("fragment read as map: %v", got)
	}
	if d.RootKind("prosemirror") != KindXMLFragment || d.Get("prosemirror").Kind() != KindUnknown {
		t.Errorf("reading changed the root's kind: RootKind %v, Kind %v", d.RootKind("prosemirror"), d.Get("prosemirror").Kind())
	}
	if asText.Len() != d.Get("prosemirror").Len() {
		t.Errorf("Len() = %d, want %d", asText.Len(), d.Get("prosemirror").Len())
	}
	// A missing root is created empty and stays out of the document.
	empty := d.RootAs("missing", KindText)
	if empty.String() != "" || len(empty.Delta()) != 0 || empty.JSON() != "" {
		t.Errorf("missing root: %q %v %v", empty.String(), empty.Delta(), empty.JSON())
	}
	if d.RootAs("missing", KindMap).JSON() == nil || d.RootAs("missing", KindArray).JSON() == nil {
		t.Error("missing root read as map or array gives nil, want empty")
	}
	if d.RootKind("missing") != KindUnknown || d.RootKind("never") != KindUnknown {
		t.Error("an empty root has a kind")
	}
	if _, ok := d.ToJSON()["missing"]; ok {
		t.Error("ToJSON lists an empty root")
	}
	if !slices.Equal(d.RootNames(), names) || !bytes.Equal(d.EncodeStateAsUpdate(nil), state) {
		t.Error("RootAs changed the document")
	}
	// Content that arrives later is read through an earlier handle.
	u, err := base64.StdEncoding.DecodeString("AQFNAAQBB21pc3NpbmcCaGkA") // client 77 inserts "hi" into root "missing"
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ApplyUpdate(u); err != nil {
		t.Fatal(err)
	}
	if empty.String() != "hi" || d.RootKind("missing") != KindText {
		t.Errorf("handle after an update: %q, kind %v", empty.String(), d.RootKind("missing"))
	}
	// A root named by its kind is returned as itself.
	if r := d.Get("missing"); d.RootAs("missing", KindUnknown) != r {
		t.Error("RootAs(KindUnknown) is not the root")
	}
	var nilType *Type
	if nilType.String() != "" || nilType.JSON() != nil || nilType.Delta() != nil || nilType.XML() != "" || nilType.ProseMirrorJSON() != nil {
		t.Error("nil *Type gives content")
	}
}

func TestDeltaOpJSON(t *testing.T) {
	ops := []DeltaOp{{Insert: "a"}, {Insert: "b", Attributes: map[string]any{"bold": true}}, {Insert: map[string]any{"image": "x"}, Attributes: map[string]any{}}}
	b, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"insert":"a"},{"insert":"b","attributes":{"bold":true}},{"insert":{"image":"x"}}]`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

func TestJSNumber(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "0"}, {1, "1"}, {-1.5, "-1.5"}, {0.1, "0.1"}, {100, "100"},
		{1e21, "1e+21"}, {1e20, "100000000000000000000"}, {123456789012345680000, "123456789012345680000"},
		{1e-6, "0.000001"}, {1e-7, "1e-7"}, {1.5e-7, "1.5e-7"}, {2.5e-8, "2.5e-8"}, {5e-324, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e+308"}, {-1e300, "-1e+300"}, {4294967294, "4294967294"},
		{0.000123, "0.000123"}, {1.25e22, "1.25e+22"}, {math.NaN(), "NaN"}, {math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"},
	} {
		if got := jsNumber(tc.f); got != tc.want {
			t.Errorf("jsNumber(%v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

func TestCompareUTF16(t *testing.T) {
	// JavaScript's sort: code units, so a supplementary character (a
	// surrogate pair, 0xD83D...) sorts before U+FFEF.
	keys := []string{"\uffef", "😀", "b", "a", "ab", "", "B", "10", "2"}
	slices.SortFunc(keys, compareUTF16)
	want := []string{"", "10", "2", "B", "a", "ab", "b", "😀", "\uffef"}
	if !slices.Equal(keys, want) {
		t.Errorf("got %q, want %q", keys, want)
	}
}

func TestJSLower(t *testing.T) {
	for in, want := range map[string]string{
		"paragraph": "paragraph", "customNode": "customnode", "ΟΔΟΣ": "οδος", "ΟΔΟΣ.": "οδος.",
		"ΣΑ": "σα", "Σ": "σ", "AΣB": "aσb", "İSTANBUL": "i\u0307stanbul", "ÅÄÖ": "åäö",
	} {
		if got := jsLower(in); got != want {
			t.Errorf("jsLower(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestXMLName(t *testing.T) {
	for in, want := range map[string]string{
		"p": "p", "comment--1": "comment--1", "": "_", "1st": "_1st", "-x": "_-x", "a b": "a_b",
		"x:y": "x_y", "ünï": "ünï", "😀": "_", "<": "_",
	} {
		if got := xmlName(in); got != want {
			t.Errorf("xmlName(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzExport applies arbitrary bytes as an update, to a fresh document and
// on top of a fixture document, and reads every root as every kind: export
// must never panic, and its values must marshal as JSON.
func FuzzExport(f *testing.F) {
	cases := loadExportFixtures(f)
	var bases [][]byte
	for _, c := range cases {
		u, err := base64.StdEncoding.DecodeString(c.Update)
		if err != nil {
			f.Fatal(err)
		}
		bases = append(bases, u)
		f.Add(u)
	}
	kinds := []Kind{KindArray, KindMap, KindText, KindXMLElement, KindXMLFragment, KindXMLHook, KindXMLText, KindUnknown}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, base := range [][]byte{nil, bases[len(data)%len(bases)]} {
			d := New(Options{KeepHistory: len(data)%2 == 1})
			if base != nil {
				if err := d.ApplyUpdate(base); err != nil {
					t.Fatal(err)
				}
			}
			if d.ApplyUpdate(data) != nil && base == nil {
				continue
			}
			for _, name := range d.RootNames() {
				d.RootKind(name)
				for _, k := range kinds {
					r := d.RootAs(name, k)
					_ = r.String()
					_ = r.XML()
					for _, v := range []any{r.JSON(), r.Delta(), r.ProseMirrorJSON()} {
						if _, err := json.Marshal(v); err != nil {
							t.Fatalf("%q as %v: %v", name, k, err)
						}
					}
				}
			}
			if _, err := json.Marshal(d.ToJSON()); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// BenchmarkReadText reads the text of the editing trace's final document
// (104,852 characters; see trace_test.go). Yjs: doc.getText('text').toString().
func BenchmarkReadText(b *testing.B) {
	d := loadedTrace(b)
	text := d.RootAs("text", KindText)
	if got := text.String(); got != traceFor(b).end {
		b.Fatalf("read %d bytes, want %d", len(got), len(traceFor(b).end))
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(traceFor(b).end)))
	for b.Loop() {
		_ = text.String()
	}
}

// BenchmarkReadDelta is BenchmarkReadText for Delta.
func BenchmarkReadDelta(b *testing.B) {
	d := loadedTrace(b)
	text := d.RootAs("text", KindText)
	b.ReportAllocs()
	for b.Loop() {
		_ = text.Delta()
	}
}
