// A Clickstream collector on Go's net/http, the way a Go engineer would write it: the
// standard library only, TLS served by http.Server.ListenAndServeTLS, which speaks
// HTTP/2 by ALPN (h2, then http/1.1) with Go's own defaults (250 concurrent streams, a
// RST_STREAM NO_ERROR after a handler that answered without reading the whole body,
// several cookie fields joined into one Cookie header). It checks appId and the auth
// cookie, answers CORS for the allowed origin, refuses bodies past 1,048,576 bytes
// with 413 (by Content-Length, or while reading), appends what it accepts to a
// JSON-lines file ({"query", "body_base64"}) and answers 200 with an empty body.
//
// Usage: collector ADDR CONFIG.json [CERT.pem KEY.pem] (plain HTTP/1.1 without a
// certificate, as the network profile's self-test runs it)
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
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

type collector struct {
	config config
	mu     sync.Mutex
	store  *os.File
}

func contains(list []string, value string) bool {
	for _, item := range list {
		if item == value {
			return true
		}
	}
	return false
}

func refuse(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	io.WriteString(w, text+"\n")
}

func (c *collector) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if contains(c.config.Origins, origin) {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Set("Vary", "Origin")
	}
}

func (c *collector) authenticated(r *http.Request) bool {
	if c.config.Cookie == nil {
		return true
	}
	cookie, err := r.Cookie(c.config.Cookie.Name)
	return err == nil && cookie.Value == c.config.Cookie.Value
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		c.cors(w, r)
		w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.URL.Path != "/collect" {
		refuse(w, http.StatusNotFound, "not found")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		refuse(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if !contains(c.config.AppIDs, r.URL.Query().Get("appId")) {
		refuse(w, http.StatusForbidden, "unknown appId")
		return
	}
	if !c.authenticated(r) {
		refuse(w, http.StatusForbidden, "authentication required")
		return
	}
	if r.ContentLength > limit {
		refuse(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			refuse(w, http.StatusRequestEntityTooLarge, "body too large")
		} else {
			refuse(w, http.StatusBadRequest, "could not read the body")
		}
		return
	}
	record, _ := json.Marshal(map[string]string{
		"query": r.URL.RawQuery, "body_base64": base64.StdEncoding.EncodeToString(body)})
	c.mu.Lock()
	_, err = c.store.Write(append(record, '\n'))
	if err == nil {
		err = c.store.Sync()
	}
	c.mu.Unlock()
	if err != nil {
		refuse(w, http.StatusInternalServerError, "could not store")
		return
	}
	c.cors(w, r)
	w.WriteHeader(http.StatusOK)
}

func main() {
	if len(os.Args) != 5 && len(os.Args) != 3 {
		log.Fatal("usage: collector ADDR CONFIG.json [CERT.pem KEY.pem]")
	}
	text, err := os.ReadFile(os.Args[2])
	if err != nil {
		log.Fatal(err)
	}
	c := &collector{}
	if err := json.Unmarshal(text, &c.config); err != nil {
		log.Fatal(err)
	}
	c.store, err = os.OpenFile(c.config.Store, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	server := &http.Server{Addr: os.Args[1], Handler: c}
	if len(os.Args) == 3 {
		log.Fatal(server.ListenAndServe())
	}
	log.Fatal(server.ListenAndServeTLS(os.Args[3], os.Args[4]))
}
