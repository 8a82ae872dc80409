package cli

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

//go:embed templates
var templates embed.FS

var validName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func runNew(ctx context.Context, args []string, stdio IO) error {
	fset := flag.NewFlagSet("new", flag.ContinueOnError)
	lang := fset.String("lang", "go", "language: go, as (AssemblyScript) or wat")
	dir := fset.String("dir", "", "directory to create (default ./NAME)")
	sdk := fset.String("sdk", "", "go: path of skiff's plugins/ directory, for the go.mod replace directive")
	fset.Usage = func() {
		fmt.Fprintln(stdio.Err, "usage: skiff plugin new NAME --lang go|as|wat [--dir DIR] [--sdk PATH]")
		fset.PrintDefaults()
	}
	pos, err := parse(fset, args, stdio)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fset.Usage()
		return errors.New("expected exactly one NAME")
	}
	name := pos[0]
	if !validName.MatchString(name) {
		return fmt.Errorf("name %q: use lowercase letters, digits and '-'", name)
	}
	if *lang != "go" && *lang != "as" && *lang != "wat" {
		return fmt.Errorf("--lang must be go, as or wat, not %q", *lang)
	}
	if *dir == "" {
		*dir = name
	}
	if *sdk != "" {
		if *sdk, err = filepath.Abs(*sdk); err != nil {
			return err
		}
	}
	if entries, err := os.ReadDir(*dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s exists and is not empty", *dir)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	data := struct{ Name, SDK string }{name, *sdk}
	files := map[string][]byte{}
	root := "templates/" + *lang
	err = fs.WalkDir(templates, root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := templates.ReadFile(path)
		if err != nil {
			return err
		}
		files[strings.TrimPrefix(path, root+"/")] = b
		return nil
	})
	if err != nil {
		return err
	}
	req, err := templates.ReadFile("templates/request.json")
	if err != nil {
		return err
	}
	files["request.json"] = req
	for rel, b := range files {
		out := strings.TrimSuffix(rel, ".tmpl")
		if strings.HasSuffix(rel, ".tmpl") {
			t, err := template.New(rel).Parse(string(b))
			if err != nil {
				return fmt.Errorf("template %s: %w", rel, err)
			}
			var sb strings.Builder
			if err := t.Execute(&sb, data); err != nil {
				return fmt.Errorf("template %s: %w", rel, err)
			}
			b = []byte(sb.String())
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(out, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(*dir, out), b, mode); err != nil {
			return err
		}
		fmt.Fprintf(stdio.Out, "created %s\n", filepath.Join(*dir, out))
	}
	return nil
}
