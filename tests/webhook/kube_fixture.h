#pragma once

// The fake Kubernetes API server fixture (tests/fakes/kube/kube_fixture.h:
// HTTPS, a bearer token, a client, kubeconfig, kubectl) under the names the
// webhook's tests use.

#include "tests/fakes/kube/kube_fixture.h"

namespace hollowtrees::webhook::testing {

inline constexpr const char* kToken = hollowtrees::testing::kFakeKubeToken;
using KubeFixture = hollowtrees::testing::FakeKubeFixture;

}  // namespace hollowtrees::webhook::testing
