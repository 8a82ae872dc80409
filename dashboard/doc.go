// Package dashboard serves skiff's live web UI over websockets.
package dashboard
