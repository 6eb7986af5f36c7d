package scale

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/testenv"
)

// fastClient is an administrator client without client-side rate limit, so
// the harness creates its thousands of objects as fast as the API server
// takes them.
func fastClient(b *testing.B, cp *testenv.Cluster) client.Client {
	cfg := rest.CopyConfig(cp.Config)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	require.NoError(b, err)
	return c
}

// createAll creates every object with workers concurrent clients; an
// object that already exists is an error (each run has its own server).
func createAll(ctx context.Context, c client.Client, workers int, objs []client.Object) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(objs) {
					return
				}
				if err := c.Create(ctx, objs[i]); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("create %T %s: %w", objs[i], client.ObjectKeyFromObject(objs[i]), err)
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// world is the control plane's content: n AppClusters, each with its
// namespace and perCluster requests, over the templates.
type world struct {
	clusters   int
	perCluster int
	templates  []string
}

func clusterName(i int) string { return fmt.Sprintf("c%04d", i) }

// objects returns the namespaces, AppClusters and requests. A cluster's
// namespace is created up front, labelled as bindsync renders it, so the
// requests can exist before the backend first runs (the backend adopts a
// namespace only when it carries bindsync's labels).
func (w world) objects() (namespaces, clusters, requests []client.Object) {
	for i := range w.clusters {
		c := clusterName(i)
		namespaces = append(namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name:   v1alpha1.ClusterNamespace(c),
			Labels: map[string]string{v1alpha1.ManagedLabel: "true", v1alpha1.ClusterLabel: c},
		}})
		clusters = append(clusters, &v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: c}})
		for j := range w.perCluster {
			t := w.templates[j%len(w.templates)]
			requests = append(requests, &v1alpha1.APIServiceExportRequest{
				ObjectMeta: metav1.ObjectMeta{Name: t, Namespace: v1alpha1.ClusterNamespace(c)},
				Spec:       v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: t}},
			})
		}
	}
	return namespaces, clusters, requests
}

// templatesFor returns one Automatic template per CRD, named after it.
func templatesFor(crds []*apiextensionsv1.CustomResourceDefinition) []client.Object {
	var out []client.Object
	for _, crd := range crds {
		out = append(out, &v1alpha1.APIServiceExportTemplate{
			ObjectMeta: metav1.ObjectMeta{Name: crd.Spec.Names.Plural},
			Spec: v1alpha1.APIServiceExportTemplateSpec{
				Approval:  v1alpha1.ApprovalAutomatic,
				Resources: []v1alpha1.GroupResource{{Group: crd.Spec.Group, Resource: crd.Spec.Names.Plural}},
			},
		})
	}
	return out
}

// unrelatedCRD is the i-th synthetic CRD of a large provider package: its
// own group (ten kinds per group, like a cloud provider's service groups)
// and a schema of 20-50 KB shaped like a generated managed resource's
// (spec.forProvider, spec.initProvider and status.atProvider with described
// fields, some nested).
func unrelatedCRD(i int) *apiextensionsv1.CustomResourceDefinition {
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	group := fmt.Sprintf("svc%03d.provider.scale.example", i/10)
	kind := fmt.Sprintf("Resource%04d", i)
	plural := strings.ToLower(kind) + "s"
	target := (20 + rng.IntN(31)) * 1024 // bytes of schema JSON
	// One field costs about 3 x 270 bytes (it appears in forProvider,
	// initProvider and atProvider).
	params := fieldsOf(rng, target/(3*270))
	str := func(p map[string]apiextensionsv1.JSONSchemaProps) apiextensionsv1.JSONSchemaProps {
		return apiextensionsv1.JSONSchemaProps{Type: "object", Description: "Parameters of the managed resource.", Properties: p}
	}
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: group,
			Scope: apiextensionsv1.ClusterScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: kind, ListKind: kind + "List", Plural: plural, Singular: strings.ToLower(kind)},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1beta1", Served: true, Storage: true,
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"apiVersion": {Type: "string"},
						"kind":       {Type: "string"},
						"metadata":   {Type: "object"},
						"spec": {Type: "object", Required: []string{"forProvider"}, Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"forProvider":    str(params),
							"initProvider":   str(params),
							"deletionPolicy": {Type: "string", Enum: []apiextensionsv1.JSON{{Raw: []byte(`"Delete"`)}, {Raw: []byte(`"Orphan"`)}}},
						}},
						"status": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"atProvider": str(params),
						}},
					},
				}},
			}},
		},
	}
}

// fieldsOf returns n described fields, every fifth one an object of four
// fields and every seventh an array of strings.
func fieldsOf(rng *rand.Rand, n int) map[string]apiextensionsv1.JSONSchemaProps {
	out := make(map[string]apiextensionsv1.JSONSchemaProps, n)
	for k := range n {
		name := fmt.Sprintf("field%03d%s", k, words[rng.IntN(len(words))])
		p := apiextensionsv1.JSONSchemaProps{Type: "string", Description: sentence(rng, 150)}
		switch {
		case k%5 == 4:
			p = apiextensionsv1.JSONSchemaProps{Type: "object", Description: sentence(rng, 60), Properties: map[string]apiextensionsv1.JSONSchemaProps{}}
			for j := range 4 {
				p.Properties[fmt.Sprintf("sub%d%s", j, words[rng.IntN(len(words))])] = apiextensionsv1.JSONSchemaProps{Type: "string", Description: sentence(rng, 30)}
			}
		case k%7 == 6:
			p = apiextensionsv1.JSONSchemaProps{Type: "array", Description: sentence(rng, 120),
				Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{Type: "string"}}}
		}
		out[name] = p
	}
	return out
}

var words = strings.Fields(`the identifier of region zone network subnet key policy role
	instance storage class encryption backup retention window tags labels endpoint version
	replica capacity throughput configuration reference selector resource managed provider`)

func sentence(rng *rand.Rand, n int) string {
	var sb strings.Builder
	for sb.Len() < n {
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(words[rng.IntN(len(words))])
	}
	return sb.String() + "."
}

// waitEstablished polls until every CRD on the server is Established, so
// the API server has finished installing them before the backend starts.
func waitEstablished(ctx context.Context, c client.Client, want int) error {
	deadline := time.Now().Add(20 * time.Minute)
	for {
		var l apiextensionsv1.CustomResourceDefinitionList
		if err := c.List(ctx, &l); err != nil {
			return err
		}
		n := 0
		for _, crd := range l.Items {
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					n++
				}
			}
		}
		if n >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d CRDs Established after 20 minutes", n, want)
		}
		time.Sleep(2 * time.Second)
	}
}
