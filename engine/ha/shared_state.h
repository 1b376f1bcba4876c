#pragma once

// What the replicas of a highly available engine share
// (docs/high-availability.md), kept in the Kubernetes API only: ConfigMaps
// in `ha.namespace`, next to the Lease.
//
// - An inbox per replica, `<lease>-inbox-<identity>`: the events that
//   replica accepted, one data key per event (the hex hash of its dedup
//   key) holding the event's JSON. Added by a merge patch before the sender
//   is answered (the EventLog), so an acknowledged event outlives its
//   replica. The leader takes the events of every inbox and removes them
//   once their flows are recorded in the state.
// - The state, `<lease>-state`: written by the leader only, always with the
//   resourceVersion of its own last write as a precondition. It names the
//   leader and a token new for every term, and holds the running flows
//   (each with its event), the groups cooling down, and the keys of the
//   events dispatched in the last `seen_window`. A new leader's first write
//   changes the version, so a deposed leader's next write is refused (409):
//   it finds another token there and stops. That is the fence.
//
// As a FlowStore: Put records a flow's state; its `on_durable` runs once a
// write of the state holding that change succeeded, and never when this
// replica is not leading or its write was refused: no plugin is called on a
// step the state does not record. One writer thread writes the whole state
// each time, covering every change made before it started (group commit).
//
// Thread-safe.

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/event/event.h"
#include "engine/store/event_log.h"
#include "engine/store/flow_store.h"
#include "engine/store/recovery.h"
#include "lib/kube/kube_client.h"

namespace spdlog {
class logger;
}

namespace hollowtrees::engine {

struct SharedStateOptions {
  std::string ns;          // ha.namespace
  std::string lease_name;  // ha.lease_name: the ConfigMaps are named after it
  std::string identity;    // this replica
  // Keys of dispatched events are kept this long, at most `max_seen` of
  // them (the oldest go first): an inbox entry or a re-send of one of them
  // is absorbed across a change of leader.
  absl::Duration seen_window = absl::Hours(1);
  size_t max_seen = 5000;
  // Finished flows kept in this replica's memory for /api/v1/flows.
  size_t keep_finished = 1000;
  // Wait before writing again after a failed write (doubling up to 2 s).
  absl::Duration retry_wait = absl::Milliseconds(100);
};

// The ConfigMap names (exposed for tests and the docs).
std::string StateConfigMapName(const std::string& lease_name);
std::string InboxConfigMapName(const std::string& lease_name, const std::string& identity);

// The shared state as a leader wrote it, decoded (exposed for tests and
// fuzzing; a new term reads it this way).
struct SharedStateContent {
  struct Flow {
    FlowRecord record;       // with its event
    std::string event_json;  // the event as stored
  };
  std::vector<Flow> flows;
  std::vector<std::pair<std::string, absl::Time>> cooldowns;  // group -> until
  std::vector<std::pair<std::string, absl::Time>> seen;       // event key -> when
  int skipped = 0;  // flows that did not decode (logged, left out)
};
// Decodes a state ConfigMap as the API server returns it: nothing for one
// without a state yet; InvalidArgument naming what is wrong (not gzip, not
// JSON, another format version, a wrong type).
absl::StatusOr<SharedStateContent> DecodeStateConfigMap(const nlohmann::json& cm);

// Sizes of the last state written, for metrics and the docs' limits.
struct SharedStateStats {
  size_t state_bytes = 0;    // the state's JSON as last written
  size_t running_flows = 0;  // in the state
  size_t seen_keys = 0;
  size_t inbox_events = 0;   // taken from inboxes, not yet removed from them
  int64_t writes = 0;        // state writes that succeeded
};

class SharedState : public FlowStore, public EventLog {
 public:
  // `client` must outlive this.
  SharedState(kube::KubeClient& client, SharedStateOptions options, spdlog::logger& logger);
  ~SharedState() override;  // stops the writer; what is unwritten is dropped

  // --- Every replica ---

  // Adds the events to this replica's inbox (creating it); returns when the
  // API server has them. Unavailable when it could not.
  absl::Status AppendEvents(const std::vector<EventPtr>& events,
                            std::vector<int64_t>* seqs = nullptr) override;

  // --- The leader ---

  // Starts a term: writes the state with this replica and a new token
  // (creating it), which fences out the previous leader, then reads it and
  // every inbox. Returns what the dispatcher resumes: the running flows,
  // the cooldowns, and the inbox events not yet dispatched (claimed for
  // this term, with their sequence numbers). From then on the FlowStore
  // calls write the state. `on_fenced` runs once, on the writer thread, if
  // a write finds another leader's token. Errors: the API server's.
  absl::StatusOr<Recovery> BeginTerm(std::function<void(const std::string& why)> on_fenced);
  // Ends the term: nothing more is written; callbacks of changes not yet
  // written never run. Waits for a write in progress to end.
  void EndTerm();
  // Waits until every change made so far is written (or the term ended,
  // or `timeout` passed). For a leader's shutdown.
  absl::Status Flush(absl::Duration timeout);

  // The events among `events` (this replica's AppendEvents, with their
  // `seqs`) that no one dispatched or claimed in this term, now claimed;
  // their seqs in `claimed_seqs`. Empty when not leading: they stay in the
  // inbox for the leader. Call once for every AppendEvents.
  std::vector<EventPtr> Claim(const std::vector<EventPtr>& events, const std::vector<int64_t>& seqs,
                              std::vector<int64_t>* claimed_seqs);
  // Forgets the seqs of AppendEvents whose events this replica will not
  // dispatch itself (they wait in the inbox).
  void Forget(const std::vector<int64_t>& seqs);
  // Reads every inbox: events not yet dispatched nor claimed are claimed
  // and returned with their seqs; entries already dispatched are removed.
  // An entry that does not decode is logged and removed. Leader only.
  absl::Status PollInboxes(std::vector<EventPtr>* events, std::vector<int64_t>* seqs);

  // FlowStore.
  using FlowStore::Put;
  void Put(const FlowRecord& record, std::function<void()> on_durable) override;
  // The events' keys go into the state; once written, the events are
  // removed from the inboxes holding them.
  void EventsDispatched(const std::vector<int64_t>& seqs) override;
  void GroupCooldown(const std::string& group, absl::Time until) override;
  std::vector<FlowRecord> List(const FlowFilter& filter) override;
  std::optional<FlowRecord> Get(const std::string& id) override;

  bool leading() const;
  SharedStateStats stats() const;
  const std::string& inbox_name() const { return inbox_name_; }
  const std::string& state_name() const { return state_name_; }

 private:
  struct Ref {              // an event this replica knows of, by seq
    std::string key;        // its inbox data key
    EventPtr event;
  };
  struct Snapshot;
  void WriterLoop();
  // One write of the state; false when the term ended (fenced or over).
  bool WriteOnce() ABSL_LOCKS_EXCLUDED(mu_);
  std::string SerializeLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status LoadLocked(const nlohmann::json& state_cm, Recovery* recovery)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes data keys from inboxes (merge patches; a gone inbox is fine).
  void RemoveFromInboxes(const absl::flat_hash_map<std::string, std::set<std::string>>& by_inbox);
  void Fenced(const std::string& why) ABSL_LOCKS_EXCLUDED(mu_);
  std::string Path(const std::string& name) const;
  nlohmann::json NewConfigMap(const std::string& name, const std::string& part) const;

  kube::KubeClient& client_;
  const SharedStateOptions options_;
  spdlog::logger& logger_;
  const std::string state_name_;
  const std::string inbox_name_;
  MemoryFlowStore finished_;  // this replica's view for /api/v1/flows

  mutable absl::Mutex mu_;
  absl::CondVar wake_;  // the writer: something to write, or stop
  absl::CondVar written_cv_;  // a write ended, or the term did
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool inbox_exists_ ABSL_GUARDED_BY(mu_) = false;
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<int64_t, Ref> refs_ ABSL_GUARDED_BY(mu_);

  // The term.
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
  std::string token_ ABSL_GUARDED_BY(mu_);
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
  std::function<void(const std::string&)> on_fenced_ ABSL_GUARDED_BY(mu_);
  uint64_t changes_ ABSL_GUARDED_BY(mu_) = 0;  // bumped by every change
  uint64_t written_ ABSL_GUARDED_BY(mu_) = 0;  // changes covered by the last write
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::function<void()>> on_durable_ ABSL_GUARDED_BY(mu_);
  // The state's content.
  absl::flat_hash_map<std::string, FlowRecord> flows_ ABSL_GUARDED_BY(mu_);  // unfinished
  absl::flat_hash_map<std::string, std::string> event_json_ ABSL_GUARDED_BY(mu_);  // by flow id
  absl::flat_hash_map<std::string, absl::Time> cooldowns_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::Time> seen_ ABSL_GUARDED_BY(mu_);  // key -> when
  // Claimed in this term: key -> seq; and which inboxes hold each key.
  absl::flat_hash_map<std::string, int64_t> claimed_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::set<std::string>> holders_ ABSL_GUARDED_BY(mu_);
  // Keys dispatched whose removal from inboxes waits for the state write.
  std::vector<std::string> to_remove_ ABSL_GUARDED_BY(mu_);
  SharedStateStats stats_ ABSL_GUARDED_BY(mu_);
  std::thread writer_;
};

}  // namespace hollowtrees::engine
