package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/record"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// TestIntegrationAgentVerifiesSignatures: with verification on, a head
// signed by a trusted key is applied; an unsigned head or one signed by
// another key applies nothing and the binding says SignatureInvalid, and the
// CRD applied from the last trusted head stays as it was.
func TestIntegrationAgentVerifiesSignatures(t *testing.T) {
	ctx, app := setupAgentTest(t)
	const cluster = "agent-signed"
	trusted, err := openpgp.NewEntity("trusted", "", "trusted@localhost", nil)
	require.NoError(t, err)
	other, err := openpgp.NewEntity("other", "", "other@localhost", nil)
	require.NoError(t, err)
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, trusted.Serialize(w))
	require.NoError(t, w.Close())
	keyFile := filepath.Join(t.TempDir(), "trusted.asc")
	require.NoError(t, os.WriteFile(keyFile, pub.Bytes(), 0o600))
	verifier, err := source.NewOpenPGPVerifier(keyFile)
	require.NoError(t, err)

	k := testKind{plural: "signeds", kind: "Signed", group: "signed.agent.bindsync.test", fields: map[string]string{"a": "string"}}
	repo := newStateRepo(t)
	createBinding(ctx, t, app, k.name(), "")
	src, err := source.New(source.Options{URL: repo.url(), Dir: staterepo.AppDir(cluster), Verifier: verifier})
	require.NoError(t, err)
	ag, err := agent.New(app.Config, app.Client, src, agent.Options{Cluster: cluster, Events: record.NewFakeRecorder(100), WaitEstablished: 30 * time.Second})
	require.NoError(t, err)

	signedRev := repo.commitSigned(appFolder(cluster, []testKind{k}, nil), trusted)
	_, err = ag.Sync(ctx)
	require.NoError(t, err)
	b := getBinding(ctx, t, app, k.name())
	require.Equal(t, signedRev, b.Status.LastAppliedRevision, "a head signed by a trusted key is applied")

	changed := k
	changed.fields = map[string]string{"a": "string", "evil": "string"}
	for name, key := range map[string]*openpgp.Entity{"unsigned head": nil, "head signed by another key": other} {
		t.Run(name, func(t *testing.T) {
			repo.commitSigned(appFolder(cluster, []testKind{changed}, nil), key)
			_, err := ag.Sync(ctx)
			require.ErrorIs(t, err, source.ErrSignatureInvalid)
			b := getBinding(ctx, t, app, k.name())
			assert.Equal(t, v1alpha1.SignatureInvalidReason, condition(b, v1alpha1.ReadyCondition).Reason)
			assert.Equal(t, signedRev, b.Status.LastAppliedRevision)
			crd, err := getCRD(ctx, t, app, k.name())
			require.NoError(t, err)
			assert.Equal(t, []string{"a"}, keysOf(crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties), "nothing applied")
		})
	}
}
