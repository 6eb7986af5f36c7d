# syntax=docker/dockerfile:1
# The bindsync image: one static binary (backend, agent and CLI) on an empty
# base, running as an unprivileged user. Multi-arch with BuildKit: the build
# stage runs on the builder's own platform and cross-compiles for each
# target (no emulation), e.g.
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=$(git describe --always) --build-arg COMMIT=$(git rev-parse HEAD) \
#     -t <registry>/bindsync:<version> --push .
# A plain `docker build -t bindsync:dev .` builds for the host. Set the name in
# your overlay's `images:` (config/control-plane, config/app-cluster) or the
# charts' image.repository and image.tag.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
# Modules first: they change less often than the code, so this layer caches.
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
# Set by BuildKit for each --platform; empty (the host's) without it.
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=devel
ARG COMMIT=
# CGO_ENABLED=0: a static binary, nothing to load from the (empty) base.
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath \
      -ldflags "-s -w -X github.com/bindsync/bindsync/internal/cli/version.version=${VERSION} -X github.com/bindsync/bindsync/internal/cli/version.commit=${COMMIT}" \
      -o /out/bindsync ./cmd/bindsync

FROM scratch
ARG VERSION=devel
ARG COMMIT=
LABEL org.opencontainers.image.title="bindsync" \
      org.opencontainers.image.description="Kubernetes APIs carried from a control-plane cluster to app clusters through a Git state repository: backend, agent and CLI" \
      org.opencontainers.image.source="https://github.com/bindsync/bindsync" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
# CA certificates, for https:// state repositories and API servers.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/bindsync /bindsync
# The manifests in config/ and the charts run it as this user, with a
# read-only root file system; the backend's clone lives on an emptyDir.
USER 65532:65532
ENTRYPOINT ["/bindsync"]
