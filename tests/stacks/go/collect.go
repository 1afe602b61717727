// A Clickstream collector on Go's net/http, the way a Go engineer would write it: the
// standard library's server with its defaults (a goroutine per connection, no read or
// idle timeouts unless set), an optional TLS certificate, 403 for an unknown appId or a
// missing auth cookie, 413 past 1,048,576 bytes, and each accepted request appended to a
// JSON-lines file (query and body as sent) before the 200 with an empty body.
// Usage: collect PORT CONFIG.json [CERT.pem KEY.pem]
package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
)

const limit = 1048576

type config struct {
	AppIDs  []string `json:"app_ids"`
	Origins []string `json:"origins"`
	Cookie  *struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"cookie"`
	Store string `json:"store"`
}

func contains(list []string, value string) bool {
	for _, item := range list {
		if item == value {
			return true
		}
	}
	return false
}

func main() {
	raw, err := os.ReadFile(os.Args[2])
	if err != nil {
		log.Fatal(err)
	}
	var cfg config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		log.Fatal(err)
	}
	store, err := os.OpenFile(cfg.Store, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	http.HandleFunc("/collect", func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); contains(cfg.Origins, origin) {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Set("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST, OPTIONS")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !contains(cfg.AppIDs, r.URL.Query().Get("appId")) {
			http.Error(w, "unknown appId", http.StatusForbidden)
			return
		}
		if cfg.Cookie != nil {
			if c, err := r.Cookie(cfg.Cookie.Name); err != nil || c.Value != cfg.Cookie.Value {
				http.Error(w, "authentication required", http.StatusForbidden)
				return
			}
		}
		if r.ContentLength > limit {
			w.Header().Set("Connection", "close")
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil { // cut short, or over the limit while chunked: nothing is stored
			http.Error(w, "body too large or incomplete", http.StatusRequestEntityTooLarge)
			return
		}
		line, _ := json.Marshal(map[string]string{"query": r.URL.RawQuery,
			"body_base64": base64.StdEncoding.EncodeToString(body)})
		mu.Lock()
		_, err = store.Write(append(line, '\n'))
		mu.Unlock()
		if err != nil {
			http.Error(w, "cannot store", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	addr := "127.0.0.1:" + os.Args[1]
	if len(os.Args) > 4 {
		log.Fatal(http.ListenAndServeTLS(addr, os.Args[3], os.Args[4], nil))
	}
	log.Fatal(http.ListenAndServe(addr, nil))
}
