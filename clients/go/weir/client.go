// Package weir is a small client of Weir's admin REST API: the models in models.go are
// generated from the spec by quicktype (scripts/clients.mjs); this file is the HTTP layer.
package weir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one Weir admin API with HTTP Basic credentials.
type Client struct {
	BaseURL  string
	User     string
	Password string
	HTTP     *http.Client
}

// New returns a client of the admin API at baseURL (e.g. http://127.0.0.1:8989).
func New(baseURL, user, password string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), User: user, Password: password, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// APIError is what the API answered when it refused: its status and {error, description}.
type APIError struct {
	Status int
	Body   Error
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Body.Error, e.Body.Description)
}

// PatchOperation is one RFC 6902 JSON Patch operation.
type PatchOperation struct {
	Op    string      `json:"op"`
	Path  string      `json:"path"`
	Value interface{} `json:"value,omitempty"`
}

func (c *Client) do(method, path, contentType string, body interface{}, out interface{}) error {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.BaseURL+path, reader)
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.User, c.Password)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode >= 400 {
		apiErr := &APIError{Status: res.StatusCode}
		if json.Unmarshal(data, &apiErr.Body) != nil {
			apiErr.Body.Description = string(data)
		}
		return apiErr
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// ListServers is GET /servers.
func (c *Client) ListServers() ([]Server, error) {
	var servers []Server
	err := c.do("GET", "/servers", "", nil, &servers)
	return servers, err
}

// GetServer is GET /servers/{name}.
func (c *Client) GetServer(name string) (*Server, error) {
	var s Server
	err := c.do("GET", "/servers/"+url.PathEscape(name), "", nil, &s)
	return &s, err
}

// PatchServer is PATCH /servers/{name} with a JSON Patch, sent as application/json.
func (c *Client) PatchServer(name string, ops []PatchOperation) (*Server, error) {
	var s Server
	err := c.do("PATCH", "/servers/"+url.PathEscape(name), "application/json", ops, &s)
	return &s, err
}

// MergePatchServer is PATCH /servers/{name} with an RFC 7396 merge patch.
func (c *Client) MergePatchServer(name string, patch map[string]interface{}) (*Server, error) {
	var s Server
	err := c.do("PATCH", "/servers/"+url.PathEscape(name), "application/merge-patch+json", patch, &s)
	return &s, err
}

// SetMaintenance adds the maintenance flag to a server's state (nothing when it is set).
func (c *Client) SetMaintenance(name string) (*Server, error) {
	s, err := c.GetServer(name)
	if err != nil {
		return nil, err
	}
	for _, f := range s.State {
		if f == Maintenance {
			return s, nil
		}
	}
	return c.PatchServer(name, []PatchOperation{{Op: "add", Path: "/state/-", Value: "maintenance"}})
}
