#include "lib/kube/lease.h"

#include <limits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/common/rfc3339.h"
#include "lib/common/status_macros.h"

namespace hollowtrees::kube {
namespace {

using nlohmann::json;

const char* JsonTypeName(const json& v) {
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

absl::Status WrongField(absl::string_view field, absl::string_view want, const json& got) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": want ", want, ", got ", JsonTypeName(got)));
}

// `obj[key]` when present and not null.
const json* Field(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

absl::Status ReadString(const json& obj, const char* key, absl::string_view path,
                        std::string* out) {
  const json* v = Field(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_string()) return WrongField(path, "a string", *v);
  *out = v->get<std::string>();
  return absl::OkStatus();
}

absl::Status ReadInt32(const json& obj, const char* key, absl::string_view path, int32_t* out) {
  const json* v = Field(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (v->is_number_integer()) {
    // is_number_integer covers both signed and unsigned storage.
    const bool fits =
        v->is_number_unsigned()
            ? v->get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int32_t>::max())
            : v->get<int64_t>() >= std::numeric_limits<int32_t>::min() &&
                  v->get<int64_t>() <= std::numeric_limits<int32_t>::max();
    if (!fits) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", v->dump(), " is out of int32 range"));
    }
    *out = static_cast<int32_t>(v->get<int64_t>());
    return absl::OkStatus();
  }
  return WrongField(path, "an integer", *v);
}

absl::Status ReadTime(const json& obj, const char* key, absl::string_view path, absl::Time* out) {
  const json* v = Field(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_string()) return WrongField(path, "an RFC 3339 time string", *v);
  auto t = ParseRfc3339(v->get<std::string>());
  if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", t.status().message()));
  *out = *t;
  return absl::OkStatus();
}

class KubeLeaseApi : public LeaseApi {
 public:
  KubeLeaseApi(KubeClient& client, std::string ns, std::string name)
      : client_(client),
        ns_(std::move(ns)),
        name_(std::move(name)),
        path_(ResourcePath("coordination.k8s.io", "v1", "leases", ns_, name_)) {}

  absl::StatusOr<LeaseRecord> Get() override {
    HT_ASSIGN_OR_RETURN(json obj, client_.Get(path_));
    return Remember(std::move(obj), "GET");
  }

  absl::StatusOr<LeaseRecord> Create(const LeaseRecord& record) override {
    json obj = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", name_}, {"namespace", ns_}}},
                {"spec", LeaseSpecToJson(record)}};
    HT_ASSIGN_OR_RETURN(
        json created,
        client_.Create(ResourcePath("coordination.k8s.io", "v1", "leases", ns_), obj));
    return Remember(std::move(created), "POST");
  }

  absl::StatusOr<LeaseRecord> Update(const LeaseRecord& record) override {
    json obj;
    {
      absl::MutexLock lock(&mu_);
      obj = last_;
    }
    if (!obj.is_object()) {
      obj = {{"metadata", {{"name", name_}, {"namespace", ns_}}}};
    }
    obj["apiVersion"] = "coordination.k8s.io/v1";
    obj["kind"] = "Lease";
    obj["metadata"]["resourceVersion"] = record.resource_version;
    obj["spec"] = LeaseSpecToJson(record);
    HT_ASSIGN_OR_RETURN(json updated,
                        client_.Request("PUT", path_, obj.dump(), "application/json"));
    return Remember(std::move(updated), "PUT");
  }

  std::string Describe() const override { return absl::StrCat(ns_, "/", name_); }

 private:
  absl::StatusOr<LeaseRecord> Remember(json obj, absl::string_view method) {
    auto record = LeaseRecordFromJson(obj);
    if (!record.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          method, " ", path_, ": the answer is not a Lease: ", record.status().message()));
    }
    absl::MutexLock lock(&mu_);
    last_ = std::move(obj);
    return record;
  }

  KubeClient& client_;
  const std::string ns_;
  const std::string name_;
  const std::string path_;
  absl::Mutex mu_;
  json last_ ABSL_GUARDED_BY(mu_);  // the object last read or written
};

}  // namespace

bool LeaseRecord::SameSpec(const LeaseRecord& other) const {
  return holder_identity == other.holder_identity &&
         lease_duration_seconds == other.lease_duration_seconds &&
         acquire_time == other.acquire_time && renew_time == other.renew_time &&
         lease_transitions == other.lease_transitions;
}

std::string FormatMicroTime(absl::Time t) { return FormatRfc3339(t, Rfc3339Fraction::kMicros); }

absl::StatusOr<LeaseRecord> LeaseRecordFromJson(const json& lease) {
  if (!lease.is_object()) return WrongField("lease", "an object", lease);
  LeaseRecord r;
  if (const json* md = Field(lease, "metadata"); md != nullptr) {
    if (!md->is_object()) return WrongField("metadata", "an object", *md);
    HT_RETURN_IF_ERROR(
        ReadString(*md, "resourceVersion", "metadata.resourceVersion", &r.resource_version));
  }
  const json* spec = Field(lease, "spec");
  if (spec == nullptr) return r;
  if (!spec->is_object()) return WrongField("spec", "an object", *spec);
  HT_RETURN_IF_ERROR(
      ReadString(*spec, "holderIdentity", "spec.holderIdentity", &r.holder_identity));
  HT_RETURN_IF_ERROR(ReadInt32(*spec, "leaseDurationSeconds", "spec.leaseDurationSeconds",
                               &r.lease_duration_seconds));
  HT_RETURN_IF_ERROR(ReadTime(*spec, "acquireTime", "spec.acquireTime", &r.acquire_time));
  HT_RETURN_IF_ERROR(ReadTime(*spec, "renewTime", "spec.renewTime", &r.renew_time));
  HT_RETURN_IF_ERROR(
      ReadInt32(*spec, "leaseTransitions", "spec.leaseTransitions", &r.lease_transitions));
  return r;
}

json LeaseSpecToJson(const LeaseRecord& record) {
  json spec = {{"holderIdentity", record.holder_identity},
               {"leaseTransitions", record.lease_transitions}};
  if (record.lease_duration_seconds != 0) {
    spec["leaseDurationSeconds"] = record.lease_duration_seconds;
  }
  if (record.acquire_time != absl::InfinitePast()) {
    spec["acquireTime"] = FormatMicroTime(record.acquire_time);
  }
  if (record.renew_time != absl::InfinitePast()) {
    spec["renewTime"] = FormatMicroTime(record.renew_time);
  }
  return spec;
}

std::unique_ptr<LeaseApi> NewKubeLeaseApi(KubeClient& client, std::string ns, std::string name) {
  return std::make_unique<KubeLeaseApi>(client, std::move(ns), std::move(name));
}

}  // namespace hollowtrees::kube
