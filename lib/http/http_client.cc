#include "lib/http/http_client.h"

#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <atomic>
#include <map>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/common/file.h"
#include "lib/common/status_macros.h"

namespace hollowtrees::http {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view what) {
  auto text = hollowtrees::ReadFile(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", what, " ", text.status().message()));
  }
  return text;
}

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// Every certificate in a PEM bundle.
absl::StatusOr<std::vector<X509Ptr>> ParseCerts(const std::string& pem, absl::string_view what) {
  std::vector<X509Ptr> out;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) out.emplace_back(x);
  BIO_free(bio);
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " holds no PEM certificate"));
  }
  return out;
}

absl::StatusOr<PkeyPtr> ParseKey(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return absl::InvalidArgumentError("client key holds no PEM private key");
  return PkeyPtr(key);
}

// Ends requests that outlive their deadline. cpp-httplib's timeouts bound
// each socket read and write, so a server that answers a byte at a time
// restarts them with every byte and can hold a request for ever; only a
// timer on the whole request bounds it. One thread per client, started on
// the first request; each request registers its deadline and an interrupt
// (ClientImpl::stop, which shuts the socket down and wakes the blocked
// read) and removes them when it ends. The interrupt runs under the lock
// that Remove takes, so it never runs after its request ended.
class DeadlineWatchdog {
 public:
  ~DeadlineWatchdog() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      wake_.Signal();
    }
    if (thread_.joinable()) thread_.join();
  }

  uint64_t Add(absl::Time deadline, std::function<void()> interrupt) {
    absl::MutexLock lock(&mu_);
    if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
    const uint64_t id = ++next_id_;
    queue_.emplace(std::make_pair(deadline, id), std::move(interrupt));
    deadlines_[id] = deadline;
    wake_.Signal();
    return id;
  }

  // Forgets the request; true when its deadline passed and it was
  // interrupted.
  bool Remove(uint64_t id) {
    absl::MutexLock lock(&mu_);
    auto it = deadlines_.find(id);
    if (it == deadlines_.end()) return fired_.erase(id) > 0;
    queue_.erase(std::make_pair(it->second, id));
    deadlines_.erase(it);
    return false;
  }

 private:
  void Loop() {
    absl::MutexLock lock(&mu_);
    while (!stopping_) {
      // Sleeps until the earliest deadline; Add and the destructor wake it
      // to look again.
      const absl::Time earliest =
          queue_.empty() ? absl::InfiniteFuture() : queue_.begin()->first.first;
      if (earliest > absl::Now()) wake_.WaitWithDeadline(&mu_, earliest);
      const absl::Time now = absl::Now();
      while (!queue_.empty() && queue_.begin()->first.first <= now) {
        auto node = queue_.extract(queue_.begin());
        const uint64_t id = node.key().second;
        deadlines_.erase(id);
        fired_.emplace(id);
        node.mapped()();
      }
    }
  }

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::pair<absl::Time, uint64_t>, std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, absl::Time> deadlines_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<uint64_t> fired_ ABSL_GUARDED_BY(mu_);
  absl::CondVar wake_;
  std::thread thread_;
};

class HttplibClient : public HttpClient {
 public:
  HttplibClient(HttpClientOptions options, Url url, std::vector<X509Ptr> cas, X509Ptr cert,
                PkeyPtr key)
      : options_(std::move(options)), url_(std::move(url)), cas_(std::move(cas)),
        cert_(std::move(cert)), key_(std::move(key)) {}

  absl::StatusOr<HttpResponse> SendStreaming(const HttpRequest& request,
                                             const std::function<bool(absl::string_view)>& on_data,
                                             StreamCancel* cancel) override {
    // A dedicated connection: stop() on it must not disturb pooled ones.
    std::unique_ptr<httplib::ClientImpl> conn = Connect();
    httplib::Request req = Prepare(*conn, request);
    HttpResponse out;
    bool success_status = false;
    req.response_handler = [&](const httplib::Response& r) {
      out.status = r.status;
      for (const auto& [k, v] : r.headers) out.headers.emplace_back(k, v);
      success_status = r.status >= 200 && r.status < 300;
      return true;
    };
    bool stopped_by_caller = false;
    req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
      if (!success_status) {
        out.body.append(data, len);
        return true;
      }
      if (!on_data(absl::string_view(data, len))) {
        stopped_by_caller = true;
        return false;
      }
      return true;
    };
    httplib::ClientImpl* raw = conn.get();
    if (cancel != nullptr) {
      cancel->SetInterrupt([raw] { raw->stop(); });
      // Cancelled before the interrupt was in place: stop() would have found
      // no socket yet. (A Cancel() between here and the connect is bounded by
      // the read timeout.)
      if (cancel->cancelled()) {
        cancel->ClearInterrupt();
        return absl::CancelledError(absl::StrCat(request.method, " ", req.path, ": cancelled"));
      }
    }
    httplib::Result res = conn->send(req);
    if (cancel != nullptr) cancel->ClearInterrupt();
    if (cancel != nullptr && cancel->cancelled()) {
      return absl::CancelledError(absl::StrCat(request.method, " ", req.path, ": cancelled"));
    }
    if (!res) {
      if (stopped_by_caller && out.status != 0) return out;
      return TransportError(request, req, res.error());
    }
    out.status = res->status;
    return out;
  }

  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    std::unique_ptr<httplib::ClientImpl> conn = Acquire();
    httplib::Request req = Prepare(*conn, request);
    // The whole request (connect, send, the answer to its last byte) within
    // the timeout, not just each read.
    const absl::Duration timeout = Timeout(request);
    httplib::ClientImpl* raw = conn.get();
    const uint64_t watch = watchdog_.Add(absl::Now() + timeout, [raw] { raw->stop(); });
    httplib::Result res = conn->send(req);
    const bool expired = watchdog_.Remove(watch);
    if (!res) {
      if (expired) {
        return absl::UnavailableError(absl::StrCat(
            request.method, " ", url_.scheme, "://", url_.host, ":", url_.port, req.path,
            ": no complete answer within ", absl::FormatDuration(timeout),
            " (the request's deadline)"));
      }
      return TransportError(request, req, res.error());
    }
    HttpResponse out;
    out.status = res->status;
    out.body = std::move(res->body);
    for (const auto& [k, v] : res->headers) out.headers.emplace_back(k, v);
    // A connection interrupted at the deadline is not reused.
    if (!expired) Release(std::move(conn));
    return out;
  }

 private:
  // Sets the connection's timeouts for `request` and builds the httplib form
  // of it. A write method always carries a body (maybe empty).
  absl::Duration Timeout(const HttpRequest& request) const {
    return request.timeout > absl::ZeroDuration() ? request.timeout : options_.timeout;
  }

  httplib::Request Prepare(httplib::ClientImpl& conn, const HttpRequest& request) const {
    const absl::Duration timeout = Timeout(request);
    conn.set_read_timeout(absl::ToChronoMicroseconds(timeout));
    conn.set_write_timeout(absl::ToChronoMicroseconds(timeout));
    httplib::Request req;
    req.method = request.method;
    req.path = url_.path + request.path;
    for (const auto& [k, v] : request.headers) req.headers.emplace(k, v);
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
        request.method == "PATCH") {
      req.body = request.body;
      if (!request.content_type.empty()) req.headers.emplace("Content-Type", request.content_type);
    }
    return req;
  }

  // Unavailable, naming the request and what went wrong on the wire.
  absl::Status TransportError(const HttpRequest& request, const httplib::Request& req,
                              httplib::Error error) const {
    return absl::UnavailableError(absl::StrCat(request.method, " ", url_.scheme, "://", url_.host,
                                               ":", url_.port, req.path, ": ",
                                               httplib::to_string(error)));
  }

  std::unique_ptr<httplib::ClientImpl> Acquire() {
    {
      absl::MutexLock lock(&mu_);
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
    }
    return Connect();
  }

  void Release(std::unique_ptr<httplib::ClientImpl> conn) {
    absl::MutexLock lock(&mu_);
    if (static_cast<int>(idle_.size()) < options_.max_idle_connections) {
      idle_.push_back(std::move(conn));
    }
  }

  std::unique_ptr<httplib::ClientImpl> Connect() {
    std::unique_ptr<httplib::ClientImpl> c;
    if (url_.scheme == "https") {
      std::unique_ptr<httplib::SSLClient> ssl;
      if (cert_ && key_) {
        ssl = std::make_unique<httplib::SSLClient>(url_.host, url_.port, cert_.get(), key_.get());
      } else {
        ssl = std::make_unique<httplib::SSLClient>(url_.host, url_.port);
      }
      if (!cas_.empty()) {
        // The SSL context takes ownership of the store: one per connection.
        X509_STORE* store = X509_STORE_new();
        for (const auto& ca : cas_) X509_STORE_add_cert(store, ca.get());
        ssl->set_ca_cert_store(store);
      }
      ssl->enable_server_certificate_verification(!options_.tls.insecure_skip_verify);
      c = std::move(ssl);
    } else {
      c = std::make_unique<httplib::ClientImpl>(url_.host, url_.port);
    }
    c->set_tcp_nodelay(true);
    c->set_keep_alive(true);
    c->set_connection_timeout(absl::ToChronoMicroseconds(options_.connect_timeout));
    return c;
  }

  const HttpClientOptions options_;
  const Url url_;
  const std::vector<X509Ptr> cas_;
  const X509Ptr cert_;
  const PkeyPtr key_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<httplib::ClientImpl>> idle_ ABSL_GUARDED_BY(mu_);
  // Last: destroyed first, so its thread is gone before the connections.
  DeadlineWatchdog watchdog_;
};

}  // namespace

// The interrupt runs under the lock so that ClearInterrupt() (and the end of
// the request that owns the connection) waits for it to finish.
void StreamCancel::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  if (interrupt_) interrupt_();
}

bool StreamCancel::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

void StreamCancel::SetInterrupt(std::function<void()> interrupt) {
  std::lock_guard<std::mutex> lock(mu_);
  interrupt_ = std::move(interrupt);
}

void StreamCancel::ClearInterrupt() {
  std::lock_guard<std::mutex> lock(mu_);
  interrupt_ = nullptr;
}

absl::StatusOr<HttpResponse> HttpClient::SendStreaming(
    const HttpRequest& request, const std::function<bool(absl::string_view)>& on_data,
    StreamCancel* cancel) {
  return absl::UnimplementedError("this HTTP client does not stream responses");
}

std::string HttpResponse::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

absl::StatusOr<Url> ParseUrl(absl::string_view text) {
  Url url;
  const size_t sep = text.find("://");
  if (sep == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("bad URL \"", text, "\": no scheme"));
  }
  url.scheme = absl::AsciiStrToLower(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("bad URL \"", text, "\": scheme must be http or https"));
  }
  absl::string_view rest = text.substr(sep + 3);
  const size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  if (slash != absl::string_view::npos) {
    url.path = std::string(rest.substr(slash));
    while (!url.path.empty() && url.path.back() == '/') url.path.pop_back();
  }
  url.port = url.scheme == "https" ? 443 : 80;
  absl::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("bad URL \"", text, "\": unclosed ["));
    }
    url.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      port_text = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (url.host.empty()) return absl::InvalidArgumentError(absl::StrCat("bad URL \"", text, "\": no host"));
  if (!port_text.empty() &&
      (!absl::SimpleAtoi(port_text, &url.port) || url.port <= 0 || url.port > 65535)) {
    return absl::InvalidArgumentError(absl::StrCat("bad URL \"", text, "\": bad port"));
  }
  return url;
}

absl::StatusOr<std::unique_ptr<HttpClient>> NewHttpClient(const HttpClientOptions& options) {
  HT_ASSIGN_OR_RETURN(Url url, ParseUrl(options.base_url));
  const TlsOptions& tls = options.tls;
  std::vector<X509Ptr> cas;
  X509Ptr cert;
  PkeyPtr key;
  std::string ca_pem = tls.ca_pem;
  if (!tls.ca_file.empty()) {
    HT_ASSIGN_OR_RETURN(std::string file_pem, ReadFile(tls.ca_file, "CA file"));
    ca_pem += "\n" + file_pem;
  }
  if (!ca_pem.empty()) {
    HT_ASSIGN_OR_RETURN(cas, ParseCerts(ca_pem, "the CA bundle"));
  }
  std::string cert_pem = tls.cert_pem;
  if (!tls.cert_file.empty()) {
    HT_ASSIGN_OR_RETURN(cert_pem, ReadFile(tls.cert_file, "client certificate"));
  }
  std::string key_pem = tls.key_pem;
  if (!tls.key_file.empty()) {
    HT_ASSIGN_OR_RETURN(key_pem, ReadFile(tls.key_file, "client key"));
  }
  if (cert_pem.empty() != key_pem.empty()) {
    return absl::InvalidArgumentError("a client certificate needs its key, and a key its certificate");
  }
  if (!cert_pem.empty()) {
    HT_ASSIGN_OR_RETURN(auto certs, ParseCerts(cert_pem, "the client certificate"));
    cert = std::move(certs.front());
    HT_ASSIGN_OR_RETURN(key, ParseKey(key_pem));
  }
  return std::make_unique<HttplibClient>(options, std::move(url), std::move(cas), std::move(cert),
                                         std::move(key));
}

}  // namespace hollowtrees::http
