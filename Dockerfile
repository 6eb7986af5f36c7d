# syntax=docker/dockerfile:1
# The bindsync image: one static binary (backend, agent and CLI) on an empty
# base, running as an unprivileged user. Build it with
#   docker build -t bindsync:$(git describe --always) .
# and set that name in your overlay's `images:` (config/control-plane,
# config/app-cluster).

FROM golang:1.26 AS build
WORKDIR /src
# Modules first: they change less often than the code, so this layer caches.
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
ARG VERSION=devel
ARG COMMIT=
# CGO_ENABLED=0: a static binary, nothing to load from the (empty) base.
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X github.com/bindsync/bindsync/internal/cli/version.version=${VERSION} -X github.com/bindsync/bindsync/internal/cli/version.commit=${COMMIT}" \
      -o /out/bindsync ./cmd/bindsync

FROM scratch
# CA certificates, for https:// state repositories and API servers.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/bindsync /bindsync
# The manifests in config/ run it as this user, with a read-only root file
# system; the backend's clone lives on an emptyDir.
USER 65532:65532
ENTRYPOINT ["/bindsync"]
