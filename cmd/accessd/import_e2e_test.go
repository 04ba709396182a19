package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/credential"
)

// TestImportFromLerian is moving in from Lerian end to end: a Lerian
// export (an application with its Lerian clientId and secret, a user
// with a bcrypt hash, one without) imported into a real --dev daemon with
// the real accessctl over the admin socket; the application's existing
// secret gets a token through x/oauth2's client_credentials; the bcrypt
// user signs in with the old password and the store then holds an
// argon2id hash; a second import changes nothing; the secret is in no
// answer, log line or store record.
func TestImportFromLerian(t *testing.T) {
	t.Parallel()
	d, sock, addr, srv := serveDev(t, "")
	ctl := buildAccessctl(t)

	// The export, as Lerian's Identity API answers it, with a bcrypt hash
	// made the way Casdoor makes them.
	const (
		appID     = "019c96a0-0c0c-7221-8cf3-13313fb60081"
		clientID  = "019c96a0-6a10-7abc-d1e2-8c9d0e1f2a3b"
		secret    = "019c96a0-6a20-7bcd-e1f2-9d0e1f2a3b4c"
		userID    = "019c96a0-0c21-71f9-a487-66a1258278a1"
		password  = "Quokka-Meridian-Tangerine-58"
		otpUserID = "019c96a0-6c20-7bcd-e1f2-5d6e7f8a9b0c"
	)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	require.NoError(t, err)
	export := fmt.Sprintf(`{
	  "users": [
	    {"id": %q, "username": "johndoe", "firstName": "John", "lastName": "Doe", "email": "john@example.com",
	     "groups": ["midaz-viewer-group"], "passwordHash": %q},
	    {"id": %q, "username": "janedoe", "firstName": "Jane", "lastName": "Doe", "email": "janedoe@example.com",
	     "groups": ["midaz-viewer-group"]}],
	  "groups": {"items": [{"createdAt": "2025-04-08T08:01:30.169Z", "id": "midaz-viewer-group", "name": "Midaz Viewer",
	                        "users": ["johndoe", "janedoe"]}], "page": 1, "limit": 10, "total": 1},
	  "applications": [{"clientId": %q, "clientSecret": %q, "createdAt": "2025-04-08T08:01:30.000Z",
	                    "description": "Midaz Used By Application X", "id": %q, "name": "Midaz", "groups": ["midaz-viewer-group"]}]
	}`, userID, hash, otpUserID, clientID, secret, appID)
	file := filepath.Join(t.TempDir(), "lerian-export.json")
	require.NoError(t, os.WriteFile(file, []byte(export), 0o600))

	var printed strings.Builder // everything accessctl printed, to look for the secret
	ctlJSON := func(v any, args ...string) {
		t.Helper()
		c := exec.Command(ctl, append([]string{"--socket", sock, "-o", "json"}, args...)...)
		var stderr strings.Builder
		c.Stderr = &stderr
		out, err := c.Output()
		printed.Write(out)
		printed.WriteString(stderr.String())
		require.NoError(t, err, "accessctl %v: %s", args, stderr.String())
		if v != nil {
			require.NoError(t, json.Unmarshal(out, v), string(out))
		}
	}
	actions := func(r api.ImportResult) map[string]string {
		m := map[string]string{}
		for _, rec := range r.Records {
			m[rec.Kind+" "+rec.Name] = rec.Action
		}
		return m
	}

	var dry api.ImportResult
	ctlJSON(&dry, "import", "-f", file, "--dry-run")
	require.Equal(t, map[string]string{"group midaz-viewer-group": "unchanged", "user johndoe": "create", "user janedoe": "create",
		"application " + clientID: "create"}, actions(dry))
	var apps []api.Application
	ctlJSON(&apps, "app", "list")
	require.Empty(t, apps, "the dry run wrote nothing")

	var res api.ImportResult
	ctlJSON(&res, "import", "-f", file)
	require.Equal(t, actions(dry), actions(res))
	require.Len(t, res.Passwords, 1)
	require.Equal(t, "janedoe", res.Passwords[0].Username)

	// The application's Lerian secret gets a token with x/oauth2.
	pem, err := os.ReadFile(filepath.Join(d, "tls", "server.crt"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	base := "https://" + addr
	octx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	cc := clientcredentials.Config{ClientID: clientID, ClientSecret: secret, TokenURL: base + "/oauth/token"}
	tok, err := cc.Token(octx)
	require.NoError(t, err, "the imported secret works for client_credentials")
	claims := verifyJWKS(t, hc, base, tok.AccessToken)
	require.Equal(t, clientID, claims["client_id"])
	require.Equal(t, "application", claims["type"])
	// And lib-auth's way: Lerian's JSON token endpoint.
	resp, err := hc.Post(base+"/v1/login/oauth/access_token", "application/json",
		strings.NewReader(fmt.Sprintf(`{"grantType":"client_credentials","clientId":%q,"clientSecret":%q}`, clientID, secret)))
	require.NoError(t, err)
	var lt struct {
		AccessToken string `json:"accessToken"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&lt))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, clientID, verifyJWKS(t, hc, base, lt.AccessToken)["azp"])
	wrong := cc
	wrong.ClientSecret = strings.Replace(secret, "9d0e", "9d0f", 1)
	_, err = wrong.Token(octx)
	require.Error(t, err, "a wrong secret of the imported form gets no token")

	// The bcrypt user signs in with the Lerian password (Lerian's JSON
	// login, as the console sends it); the one-time password asks for a
	// change first.
	login := func(user, pw string) (int, string) {
		t.Helper()
		body := fmt.Sprintf(`{"grantType":"password","username":%q,"password":%q}`, user, pw)
		resp, err := hc.Post(base+"/v1/login/oauth/access_token", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := login("johndoe", "Quokka-Meridian-Tangerine-59")
	require.Equal(t, http.StatusUnauthorized, code, body)
	code, body = login("johndoe", password)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"accessToken"`)
	code, body = login("johndoe", password)
	require.Equal(t, http.StatusOK, code, "the re-made hash verifies: %s", body)
	code, body = login("janedoe", res.Passwords[0].Password)
	require.Equal(t, http.StatusForbidden, code, body)
	require.Contains(t, body, "AUT-1008")

	// A second import changes nothing.
	var again api.ImportResult
	ctlJSON(&again, "import", "-f", file)
	for k, v := range actions(again) {
		require.Equal(t, "unchanged", v, k)
	}
	require.Empty(t, again.Passwords)
	var entries []api.AuditEntry
	ctlJSON(&entries, "audit", "list", "--type", "lerian.import")
	require.Len(t, entries, 1, "the second import wrote nothing")
	ctlJSON(&entries, "audit", "list")
	ctlJSON(nil, "app", "get", clientID)
	ctlJSON(nil, "review")
	require.NotContains(t, printed.String(), secret, "the imported secret is in no answer")

	srv.stop(t)
	require.NotContains(t, srv.stdout.String()+srv.stderr.String(), secret, "nor in the daemon's log")

	// The store: the password hash is argon2id now, and the application's
	// secret is held only as its keyed hash.
	st, _ := openDevStore(t, d)
	defer st.Close()
	cred, err := st.Credentials().Get(userID)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(cred.PasswordHash, "$argon2id$"), "re-hashed at the first sign-in, got %.7s", cred.PasswordHash)
	app, err := st.Applications().Get(appID)
	require.NoError(t, err)
	require.Equal(t, clientID, app.ClientID)
	raw, err := json.Marshal(app)
	require.NoError(t, err)
	require.False(t, bytes.Contains(raw, []byte(secret)), "the record holds the secret in clear")
	require.Len(t, app.SecretHashes, 1)
	require.Equal(t, credential.HashClientSecret(st, []byte(secret)), app.SecretHashes[0].Hash, "stored as the pepper's HMAC")
}
