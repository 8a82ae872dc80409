package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"sigs.k8s.io/yaml"

	"skiff.dev/plugins/abi"
	"skiff.dev/plugins/host"
)

func runTest(ctx context.Context, args []string, stdio IO) error {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	reqFile := fs.String("request", "", "admission request: an AdmissionReview, an AdmissionRequest or a plain object (JSON or YAML; a plain object is tested as a CREATE)")
	podFile := fs.String("pod", "", "scheduler plugins: the pod to place (JSON or YAML)")
	nodesFile := fs.String("nodes", "", "scheduler plugins: candidate nodes, a list of {name, labels, taints, allocatable, requested}")
	settingsFile := fs.String("settings", "", "policy settings (JSON or YAML)")
	mutate := fs.Bool("mutate", false, "call mutate instead of validate (default: mutate if the module only serves mutate)")
	timeout := fs.Duration("timeout", 2*time.Second, "per-call timeout")
	output := fs.String("o", "text", "output: text or json (the raw module response)")
	verbose := fs.Bool("v", false, "print the module's log lines")
	fs.Usage = func() {
		fmt.Fprintln(stdio.Err, "usage: skiff plugin test MODULE.wasm --request REQ.json [--settings S.json] [--mutate]")
		fmt.Fprintln(stdio.Err, "       skiff plugin test MODULE.wasm --pod POD.yaml --nodes NODES.yaml [--settings S.json]")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args, stdio)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("expected exactly one MODULE.wasm")
	}
	if *podFile != "" || *nodesFile != "" {
		if *podFile == "" || *nodesFile == "" || *reqFile != "" {
			return errors.New("a scheduler plugin needs --pod and --nodes (and no --request)")
		}
		var settings []byte
		if *settingsFile != "" {
			if settings, err = readJSON(*settingsFile); err != nil {
				return fmt.Errorf("settings: %w", err)
			}
		}
		return runSchedulingTest(ctx, stdio, pos[0], *podFile, *nodesFile, settings, *timeout)
	}
	if *reqFile == "" {
		return errors.New("--request is required (or --pod and --nodes for a scheduler plugin)")
	}
	if *output != "text" && *output != "json" {
		return fmt.Errorf("-o must be text or json, not %q", *output)
	}
	wasm, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	reqJSON, object, err := loadRequest(*reqFile)
	if err != nil {
		return err
	}
	var settings []byte
	if *settingsFile != "" {
		if settings, err = readJSON(*settingsFile); err != nil {
			return fmt.Errorf("settings: %w", err)
		}
	}
	log := discardLogger()
	if *verbose {
		log = slog.New(slog.NewTextHandler(stdio.Err, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	rt, err := host.New(ctx, host.Options{Logger: log, CacheDir: cacheDir()})
	if err != nil {
		return err
	}
	defer rt.Close(context.WithoutCancel(ctx))
	mod, err := rt.Load(ctx, pos[0], wasm)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, *timeout)
	err = host.CheckSettings(cctx, mod, settings)
	cancel()
	if err != nil {
		return err
	}
	entry := abi.ExportValidate
	if *mutate || (!mod.Has(abi.ExportValidate) && mod.Has(abi.ExportMutate)) {
		entry = abi.ExportMutate
	}
	if !mod.Has(entry) {
		return fmt.Errorf("module does not serve %q", entry)
	}
	var in bytes.Buffer
	in.WriteString(`{"request":`)
	in.Write(reqJSON)
	if len(settings) > 0 {
		in.WriteString(`,"settings":`)
		in.Write(settings)
	}
	in.WriteString("}")
	cctx, cancel = context.WithTimeout(ctx, *timeout)
	start := time.Now()
	out, err := mod.Call(cctx, entry, in.Bytes())
	took := time.Since(start)
	cancel()
	if err != nil {
		return err
	}
	if *output == "json" {
		fmt.Fprintln(stdio.Out, string(out))
	}
	var res abi.AdmissionOutput
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("module returned an invalid response %q: %w", truncate(out), err)
	}
	if res.Error != "" {
		return fmt.Errorf("policy failed: %s", res.Error)
	}
	if *output == "text" {
		printVerdict(stdio, entry, &res, object, took)
	}
	if !res.Allowed {
		return ErrDenied
	}
	return nil
}

func printVerdict(stdio IO, entry string, res *abi.AdmissionOutput, object []byte, took time.Duration) {
	w := stdio.Out
	if res.Allowed {
		fmt.Fprintf(w, "ALLOWED (%s, %v)\n", entry, took.Round(time.Microsecond))
	} else {
		code := res.Code
		if code < 400 {
			code = 400
		}
		fmt.Fprintf(w, "DENIED %d (%s, %v): %s\n", code, entry, took.Round(time.Microsecond), res.Message)
	}
	for _, warning := range res.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warning)
	}
	if len(res.Patch) == 0 || string(res.Patch) == "null" {
		return
	}
	var pretty bytes.Buffer
	json.Indent(&pretty, res.Patch, "", "  ")
	fmt.Fprintf(w, "patch:\n%s\n", pretty.String())
	if entry == abi.ExportMutate && len(object) > 0 {
		p, err := jsonpatch.DecodePatch(res.Patch)
		if err != nil {
			fmt.Fprintf(w, "patch is invalid: %v\n", err)
			return
		}
		patched, err := p.Apply(object)
		if err != nil {
			fmt.Fprintf(w, "patch does not apply: %v\n", err)
			return
		}
		pretty.Reset()
		json.Indent(&pretty, patched, "", "  ")
		fmt.Fprintf(w, "patched object:\n%s\n", pretty.String())
	}
}

// cacheDir is where compiled modules are cached between runs:
// $SKIFF_WASM_CACHE_DIR, else the user cache directory; "" (in memory) if
// neither is usable.
func cacheDir() string {
	if d := os.Getenv("SKIFF_WASM_CACHE_DIR"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	d = filepath.Join(d, "skiff", "wazero")
	if os.MkdirAll(d, 0o700) != nil {
		return ""
	}
	return d
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

func readJSON(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%s: not JSON or YAML: %w", path, err)
	}
	return j, nil
}

// loadRequest reads an AdmissionReview, AdmissionRequest or plain object
// and returns the request JSON and the object JSON.
func loadRequest(path string) (req, object []byte, err error) {
	b, err := readJSON(path)
	if err != nil {
		return nil, nil, fmt.Errorf("request: %w", err)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, nil, fmt.Errorf("request %s: expected a JSON object: %w", path, err)
	}
	if r, ok := probe["request"]; ok {
		b = r
		probe = nil
		if err := json.Unmarshal(b, &probe); err != nil {
			return nil, nil, fmt.Errorf("request %s: .request is not an object: %w", path, err)
		}
	}
	_, hasOp := probe["operation"]
	_, hasUID := probe["uid"]
	if hasOp || hasUID {
		return b, probe["object"], nil
	}
	_, hasKind := probe["kind"]
	if !hasKind {
		return nil, nil, fmt.Errorf("request %s: neither an AdmissionReview, an AdmissionRequest nor an object with a kind", path)
	}
	// A plain object: wrap it as a CREATE.
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	json.Unmarshal(b, &meta)
	group, version, ok := strings.Cut(meta.APIVersion, "/")
	if !ok {
		group, version = "", meta.APIVersion
	}
	r := map[string]any{
		"uid":       "00000000-0000-0000-0000-000000000000",
		"kind":      map[string]string{"group": group, "version": version, "kind": meta.Kind},
		"resource":  map[string]string{"group": group, "version": version, "resource": plural(meta.Kind)},
		"name":      meta.Metadata.Name,
		"namespace": meta.Metadata.Namespace,
		"operation": "CREATE",
		"userInfo":  map[string]any{"username": "skiff-plugin-test"},
		"object":    json.RawMessage(b),
		"dryRun":    false,
	}
	out, err := json.Marshal(r)
	return out, b, err
}

// plural guesses a kind's resource name the way most built-in kinds go.
func plural(kind string) string {
	k := strings.ToLower(kind)
	switch {
	case k == "":
		return ""
	case strings.HasSuffix(k, "y") && !strings.HasSuffix(k, "ey"):
		return k[:len(k)-1] + "ies"
	case strings.HasSuffix(k, "s"), strings.HasSuffix(k, "x"), strings.HasSuffix(k, "ch"):
		return k + "es"
	}
	return k + "s"
}
