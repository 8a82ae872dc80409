// Package ui holds the dashboard's single-page app (vanilla JS and CSS, no
// external requests), embedded into the binary.
package ui

import "embed"

// Assets is the app; files live under assets/.
//
//go:embed assets
var Assets embed.FS
