package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ApplyObjects server-side applies objs in order, as FieldOwner, taking over
// conflicting fields. CustomResourceDefinitions are applied first and waited
// for until Established, so objs may mix CRDs and their instances.
func (c *Cluster) ApplyObjects(ctx context.Context, objs []*unstructured.Unstructured) error {
	var crds, others []*unstructured.Unstructured
	var names []string
	for _, o := range objs {
		if o.GroupVersionKind().GroupKind() == apiextensionsv1.Kind("CustomResourceDefinition") {
			crds = append(crds, o)
			names = append(names, o.GetName())
			continue
		}
		others = append(others, o)
	}
	if err := applyObjects(ctx, c.Client, crds); err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	if err := c.WaitEstablished(ctx, names...); err != nil {
		return err
	}
	if err := applyObjects(ctx, c.Client, others); err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	return nil
}

// InstallCRDs applies the CRDs in the given YAML files or folders and waits
// until they are Established. It returns their names.
func (c *Cluster) InstallCRDs(ctx context.Context, paths ...string) ([]string, error) {
	objs, err := ReadObjects(paths...)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			return nil, fmt.Errorf("install CRDs: %s %s is not a CustomResourceDefinition", o.GetKind(), o.GetName())
		}
		names = append(names, o.GetName())
	}
	return names, c.ApplyObjects(ctx, objs)
}

// WaitEstablished waits until every named CRD has the conditions
// NamesAccepted and Established, or ctx ends. The error names the CRDs that
// were not ready and their last conditions.
func (c *Cluster) WaitEstablished(ctx context.Context, crdNames ...string) error {
	pending := map[string]string{}
	for _, n := range crdNames {
		pending[n] = notSeen
	}
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for name := range pending {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := c.Client.Get(ctx, client.ObjectKey{Name: name}, &crd); err != nil {
				// Keep the server's last answer over a client-side
				// error such as the context running out.
				var status apierrors.APIStatus
				if errors.As(err, &status) || pending[name] == notSeen {
					pending[name] = err.Error()
				}
				continue
			}
			if ok, why := established(&crd); ok {
				delete(pending, name)
			} else {
				pending[name] = why
			}
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		var lines []string
		for name, why := range pending {
			lines = append(lines, name+": "+why)
		}
		sort.Strings(lines)
		return fmt.Errorf("%s: CRDs not established: %s: %w", c.Name, strings.Join(lines, "; "), err)
	}
	return nil
}

const notSeen = "not seen yet"

func established(crd *apiextensionsv1.CustomResourceDefinition) (bool, string) {
	var names, est bool
	var why []string
	for _, cond := range crd.Status.Conditions {
		switch cond.Type {
		case apiextensionsv1.NamesAccepted:
			names = cond.Status == apiextensionsv1.ConditionTrue
		case apiextensionsv1.Established:
			est = cond.Status == apiextensionsv1.ConditionTrue
		}
		if cond.Status != apiextensionsv1.ConditionTrue {
			why = append(why, fmt.Sprintf("%s=%s (%s: %s)", cond.Type, cond.Status, cond.Reason, cond.Message))
		}
	}
	if len(why) == 0 {
		why = []string{"no Established condition yet"}
	}
	return names && est, strings.Join(why, ", ")
}

// ServiceAccountUser returns the user name Kubernetes gives a ServiceAccount.
func ServiceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// ImpersonateConfig returns a copy of the administrator config that acts as
// user (and, for a ServiceAccount user, its groups, which the API server adds).
func (c *Cluster) ImpersonateConfig(user string) *rest.Config {
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	return cfg
}

// Impersonate returns a client that acts as the ServiceAccount
// namespace/name, with exactly the permissions RBAC gives it.
func (c *Cluster) Impersonate(namespace, name string) (client.Client, error) {
	cl, err := client.New(c.ImpersonateConfig(ServiceAccountUser(namespace, name)), client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, fmt.Errorf("%s: client as %s/%s: %w", c.Name, namespace, name, err)
	}
	return cl, nil
}

// ReadObjects decodes every object in the given YAML files, and in the
// .yaml/.yml/.json files of the given folders (not recursively), in order.
// Empty documents are skipped; a List is not expanded.
func ReadObjects(paths ...string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, p := range paths {
		files, err := manifestFiles(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			objs, err := DecodeObjects(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			out = append(out, objs...)
		}
	}
	return out, nil
}

// DecodeObjects decodes a multi-document YAML (or JSON) stream.
func DecodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for i := 0; ; i++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

func manifestFiles(p string) ([]string, error) {
	info, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no manifests", p)
	}
	return files, nil
}
