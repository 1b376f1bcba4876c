#include "tests/fakes/aws/fake_sqs.h"

#include <openssl/evp.h>

#include <algorithm>
#include <list>
#include <set>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/aws/sigv4.h"
#include "pugixml.hpp"
#include "tests/fakes/aws/fake_xml.h"

namespace hollowtrees::testing {
namespace {

using nlohmann::json;

constexpr char kSqsNs[] = "http://queue.amazonaws.com/doc/2012-11-05/";
constexpr int kMaxBatchBytes = 1048576;
constexpr absl::Duration kMaxVisibility = absl::Hours(12);

// An error: the Query code (the JSON __type is derived from it), message,
// HTTP status.
struct SqsErr {
  std::string code;
  std::string message;
  int status = 400;
};

// Query code -> the error shape's name in the JSON protocol and the status
// (the SQS model's awsQueryError traits).
struct CodeInfo {
  const char* query;
  const char* json;
  int status;
};
constexpr CodeInfo kCodes[] = {
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", 400},
    {"QueueAlreadyExists", "QueueNameExists", 400},
    {"ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 404},
    {"AWS.SimpleQueueService.MessageNotInflight", "MessageNotInflight", 400},
    {"RequestThrottled", "RequestThrottled", 403},
    {"OverLimit", "OverLimit", 403},
    {"AWS.SimpleQueueService.PurgeQueueInProgress", "PurgeQueueInProgress", 403},
    {"AWS.SimpleQueueService.QueueDeletedRecently", "QueueDeletedRecently", 400},
    {"AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "TooManyEntriesInBatchRequest", 400},
    {"AWS.SimpleQueueService.EmptyBatchRequest", "EmptyBatchRequest", 400},
    {"AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "BatchEntryIdsNotDistinct", 400},
    {"AWS.SimpleQueueService.InvalidBatchEntryId", "InvalidBatchEntryId", 400},
    {"AWS.SimpleQueueService.BatchRequestTooLong", "BatchRequestTooLong", 400},
    {"AWS.SimpleQueueService.UnsupportedOperation", "UnsupportedOperation", 400},
};

std::string JsonErrorName(const std::string& code) {
  for (const CodeInfo& c : kCodes) {
    if (code == c.query) return c.json;
  }
  constexpr absl::string_view kPrefix = "AWS.SimpleQueueService.";
  if (absl::StartsWith(code, kPrefix)) return code.substr(kPrefix.size());
  return code;
}

int DefaultStatus(const std::string& code) {
  for (const CodeInfo& c : kCodes) {
    if (code == c.query) return c.status;
  }
  return 400;
}

SqsErr Err(const std::string& code, const std::string& message) {
  return {code, message, DefaultStatus(code)};
}

SqsErr InvalidValue(const std::string& message) { return Err("InvalidParameterValue", message); }

SqsErr NoQueue(bool json) {
  return Err("AWS.SimpleQueueService.NonExistentQueue",
             json ? "The specified queue does not exist."
                  : "The specified queue does not exist for this wsdl version.");
}

std::string Md5Hex(absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_md5(), nullptr);
  return aws::HexEncode(absl::string_view(reinterpret_cast<const char*>(out), len));
}

void AppendLengthPrefixed(std::string& out, absl::string_view bytes) {
  const uint32_t n = static_cast<uint32_t>(bytes.size());
  out.push_back(static_cast<char>((n >> 24) & 0xff));
  out.push_back(static_cast<char>((n >> 16) & 0xff));
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  out.push_back(static_cast<char>(n & 0xff));
  out.append(bytes.data(), bytes.size());
}

struct MsgAttr {
  std::string data_type;
  std::string string_value;
  std::string binary_value;  // raw bytes
  bool binary() const { return absl::StartsWith(data_type, "Binary"); }
};

// MD5OfMessageAttributes as the SQS developer guide defines it: attributes
// sorted by name; each its name, data type (4-byte big-endian length and
// UTF-8 bytes), transport type (1 string, 2 binary) and value.
std::string Md5OfAttributes(const std::map<std::string, MsgAttr>& attrs) {
  std::string buf;
  for (const auto& [name, a] : attrs) {
    AppendLengthPrefixed(buf, name);
    AppendLengthPrefixed(buf, a.data_type);
    buf.push_back(a.binary() ? 2 : 1);
    AppendLengthPrefixed(buf, a.binary() ? a.binary_value : a.string_value);
  }
  return Md5Hex(buf);
}

// The first character SQS refuses in a message body (#x9 | #xA | #xD |
// #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF), or -1; -2 for bytes that
// are not UTF-8.
int64_t FirstInvalidChar(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    uint32_t cp;
    int n;
    if (c < 0x80) {
      cp = c;
      n = 1;
    } else if ((c & 0xe0) == 0xc0) {
      cp = c & 0x1f;
      n = 2;
    } else if ((c & 0xf0) == 0xe0) {
      cp = c & 0x0f;
      n = 3;
    } else if ((c & 0xf8) == 0xf0) {
      cp = c & 0x07;
      n = 4;
    } else {
      return -2;
    }
    if (i + n > s.size()) return -2;
    for (int k = 1; k < n; ++k) {
      const unsigned char cc = s[i + k];
      if ((cc & 0xc0) != 0x80) return -2;
      cp = (cp << 6) | (cc & 0x3f);
    }
    const bool ok = cp == 0x9 || cp == 0xa || cp == 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
                    (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
    if (!ok) return cp;
    i += n;
  }
  return -1;
}

bool ValidBatchId(const std::string& id) {
  if (id.empty() || id.size() > 80) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_') return false;
  }
  return true;
}

bool ValidQueueName(const std::string& name) {
  if (name.empty() || name.size() > 80) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_') return false;
  }
  return true;
}

// Reads an integer member: a JSON number, or (Query) its decimal text.
// nullopt when absent; an error when present but not an integer.
bool GetInt(const json& in, const std::string& key, std::optional<int64_t>* out, SqsErr* e) {
  auto it = in.find(key);
  if (it == in.end() || it->is_null()) return true;
  int64_t v;
  if (it->is_number_integer()) {
    v = it->get<int64_t>();
  } else if (it->is_string() && absl::SimpleAtoi(it->get<std::string>(), &v)) {
  } else {
    *e = InvalidValue(absl::StrCat("Value ", it->is_string() ? it->get<std::string>() : it->dump(),
                                   " for parameter ", key,
                                   " is invalid. Reason: Must be an integer."));
    return false;
  }
  *out = v;
  return true;
}

std::string GetStr(const json& in, const std::string& key) {
  auto it = in.find(key);
  if (it == in.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

bool Has(const json& in, const std::string& key) {
  auto it = in.find(key);
  return it != in.end() && !it->is_null();
}

std::vector<std::string> GetStrList(const json& in, const std::string& key) {
  std::vector<std::string> out;
  auto it = in.find(key);
  if (it == in.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

SqsErr Missing(const std::string& param) {
  return Err("MissingParameter",
             absl::StrCat("The request must contain the parameter ", param, "."));
}

// Settable queue attributes: name -> [min, max] for integers (min > max: not
// an integer).
struct AttrRule {
  const char* name;
  int64_t min;
  int64_t max;
  const char* default_value;  // nullptr: absent unless set
};
constexpr AttrRule kAttrRules[] = {
    {"DelaySeconds", 0, 900, "0"},
    {"MaximumMessageSize", 1024, 1048576, "1048576"},
    {"MessageRetentionPeriod", 60, 1209600, "345600"},
    {"ReceiveMessageWaitTimeSeconds", 0, 20, "0"},
    {"VisibilityTimeout", 0, 43200, "30"},
    {"KmsDataKeyReusePeriodSeconds", 60, 86400, nullptr},
    {"SqsManagedSseEnabled", 1, 0, "true"},
    {"RedrivePolicy", 1, 0, nullptr},
    {"RedriveAllowPolicy", 1, 0, nullptr},
    {"Policy", 1, 0, nullptr},
    {"KmsMasterKeyId", 1, 0, nullptr},
    {"FifoQueue", 1, 0, nullptr},
    {"ContentBasedDeduplication", 1, 0, nullptr},
    {"DeduplicationScope", 1, 0, nullptr},
    {"FifoThroughputLimit", 1, 0, nullptr},
};
constexpr const char* kReadOnlyAttrs[] = {"QueueArn",
                                          "ApproximateNumberOfMessages",
                                          "ApproximateNumberOfMessagesNotVisible",
                                          "ApproximateNumberOfMessagesDelayed",
                                          "CreatedTimestamp",
                                          "LastModifiedTimestamp"};

const AttrRule* FindRule(const std::string& name) {
  for (const AttrRule& r : kAttrRules) {
    if (name == r.name) return &r;
  }
  return nullptr;
}

std::string NewUuid(absl::BitGen& rng) {
  const uint64_t a = absl::Uniform<uint64_t>(rng);
  const uint64_t b = absl::Uniform<uint64_t>(rng);
  return absl::StrFormat("%08x-%04x-4%03x-%04x-%012x", a >> 32, (a >> 16) & 0xffff, a & 0xfff,
                         0x8000 | ((b >> 48) & 0x3fff), b & 0xffffffffffffULL);
}

std::string Millis(absl::Time t) { return absl::StrCat(absl::ToUnixMillis(t)); }

using fake_xml::Add;
using fake_xml::ToString;

}  // namespace

// ---------------------------------------------------------------------------
// State.

class FakeSqs::State {
 public:
  struct Message {
    std::string id;
    std::string body;
    std::string md5_body;
    std::map<std::string, MsgAttr> attrs;
    std::string sender_id;
    absl::Time sent;
    absl::Time available_at;                            // DelaySeconds
    absl::Time invisible_until = absl::InfinitePast();  // visibility timeout
    absl::Time first_received = absl::InfinitePast();
    absl::Time received_at = absl::InfinitePast();  // the latest receive
    int receive_count = 0;
    uint64_t receipt = 0;  // serial of the current receipt handle; 0: never received
  };
  struct Queue {
    std::string name;
    std::map<std::string, std::string> attrs;
    absl::Time created;
    absl::Time modified;
    std::list<Message> messages;  // send order
    std::vector<FakeSqsDeleted> deleted;
    int stale_deletes = 0;
    absl::Time last_purge = absl::InfinitePast();
  };

  State(std::string r, Clock& c) : region(std::move(r)), clock(c) {
    handle_key = absl::StrCat(absl::Uniform<uint64_t>(rng), "-", absl::Uniform<uint64_t>(rng));
  }

  const std::string region;
  Clock& clock;
  absl::Mutex mu;
  absl::CondVar cv;
  std::string endpoint ABSL_GUARDED_BY(mu);
  std::map<std::string, std::unique_ptr<Queue>> queues ABSL_GUARDED_BY(mu);
  std::map<std::string, absl::Time> deleted_queues ABSL_GUARDED_BY(mu);
  uint64_t next_receipt ABSL_GUARDED_BY(mu) = 1;
  bool shutdown ABSL_GUARDED_BY(mu) = false;
  absl::BitGen rng ABSL_GUARDED_BY(mu);
  std::string handle_key;

  std::string Url(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return absl::StrCat(endpoint, "/", kFakeAccountId, "/", name);
  }
  std::string Arn(const std::string& name) const {
    return absl::StrCat("arn:aws:sqs:", region, ":", kFakeAccountId, ":", name);
  }

  // Receipt handles: "AQEB" + base64(queue \n message id \n serial \n mac).
  std::string MakeHandle(const Queue& q, const Message& m) {
    const std::string payload = absl::StrCat(q.name, "\n", m.id, "\n", m.receipt);
    const std::string mac = aws::Sha256Hex(handle_key + payload).substr(0, 16);
    return "AQEB" + absl::Base64Escape(payload + "\n" + mac);
  }
  struct Handle {
    std::string queue;
    std::string message_id;
    uint64_t serial = 0;
  };
  std::optional<Handle> ParseHandle(const std::string& h) {
    if (h.size() > 1024 || !absl::StartsWith(h, "AQEB")) return std::nullopt;
    std::string raw;
    if (!absl::Base64Unescape(h.substr(4), &raw)) return std::nullopt;
    std::vector<std::string> parts = absl::StrSplit(raw, '\n');
    if (parts.size() != 4) return std::nullopt;
    const std::string payload = absl::StrCat(parts[0], "\n", parts[1], "\n", parts[2]);
    if (aws::Sha256Hex(handle_key + payload).substr(0, 16) != parts[3]) return std::nullopt;
    Handle out{parts[0], parts[1], 0};
    if (!absl::SimpleAtoi(parts[2], &out.serial)) return std::nullopt;
    return out;
  }

  int64_t IntAttr(const Queue& q, const char* name) {
    auto it = q.attrs.find(name);
    int64_t v = 0;
    if (it != q.attrs.end()) (void)absl::SimpleAtoi(it->second, &v);
    return v;
  }

  static bool Visible(const Message& m, absl::Time now) {
    return now >= m.available_at && now >= m.invisible_until;
  }
  static bool InFlight(const Message& m, absl::Time now) {
    return m.receipt != 0 && now < m.invisible_until;
  }
  static bool Delayed(const Message& m, absl::Time now) {
    return m.receipt == 0 && now < m.available_at;
  }

  // Drops messages past the queue's retention period.
  void Expire(Queue& q, absl::Time now) {
    const absl::Duration keep = absl::Seconds(IntAttr(q, "MessageRetentionPeriod"));
    q.messages.remove_if([&](const Message& m) { return now - m.sent >= keep; });
  }

  // Resolves QueueUrl (or, for the Query protocol, the request's path).
  Queue* FindQueue(const SqsRequest& r, SqsErr* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::string path;
    std::string url = GetStr(r.input, "QueueUrl");
    if (!url.empty()) {
      const size_t scheme = url.find("://");
      const size_t slash =
          scheme == std::string::npos ? std::string::npos : url.find('/', scheme + 3);
      if (slash == std::string::npos) {
        *e = Err("InvalidAddress",
                 absl::StrCat("The address ", url, " is not valid for this endpoint."));
        return nullptr;
      }
      path = url.substr(slash);
    } else if (!r.json && r.path != "/") {
      path = r.path;
    } else {
      *e = Missing("QueueUrl");
      return nullptr;
    }
    std::vector<std::string> parts = absl::StrSplit(path, '/');
    // "", account, name
    if (parts.size() != 3 || !parts[0].empty() || parts[1].empty() || parts[2].empty()) {
      *e = Err("InvalidAddress", absl::StrCat("The address ", url.empty() ? path : url,
                                              " is not valid for this endpoint."));
      return nullptr;
    }
    auto it = queues.find(parts[2]);
    if (parts[1] != kFakeAccountId || it == queues.end()) {
      *e = NoQueue(r.json);
      return nullptr;
    }
    return it->second.get();
  }

  // Validates attributes for CreateQueue/SetQueueAttributes; normalises into `out`.
  bool CheckAttributes(const json& attrs, std::map<std::string, std::string>* out, SqsErr* e)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (attrs.is_null()) return true;
    if (!attrs.is_object()) {
      *e = InvalidValue("Attributes must be a map.");
      return false;
    }
    for (const auto& [name, value_json] : attrs.items()) {
      const AttrRule* rule = FindRule(name);
      if (rule == nullptr) {
        *e = Err("InvalidAttributeName", absl::StrCat("Unknown Attribute ", name, "."));
        return false;
      }
      if (!value_json.is_string()) {
        *e = Err("InvalidAttributeValue",
                 absl::StrCat("Invalid value for the parameter ", name, "."));
        return false;
      }
      const std::string value = value_json.get<std::string>();
      auto bad = [&]() {
        *e = Err("InvalidAttributeValue",
                 absl::StrCat("Invalid value for the parameter ", name, "."));
        return false;
      };
      if (rule->min <= rule->max) {
        int64_t v;
        if (!absl::SimpleAtoi(value, &v) || v < rule->min || v > rule->max) return bad();
      } else if (name == "SqsManagedSseEnabled" || name == "ContentBasedDeduplication") {
        if (value != "true" && value != "false") return bad();
      } else if (name == "FifoQueue") {
        if (value == "true") {
          *e = Err("AWS.SimpleQueueService.UnsupportedOperation",
                   "FIFO queues are not implemented by this fake.");
          return false;
        }
        if (value != "false") return bad();
        continue;  // a standard queue: nothing to keep
      } else if (name == "RedrivePolicy" && !value.empty()) {
        json p = json::parse(value, nullptr, false);
        auto invalid = [&](const std::string& reason) {
          *e = InvalidValue(absl::StrCat(
              "Value ", value, " for parameter RedrivePolicy is invalid. Reason: ", reason));
          return false;
        };
        if (!p.is_object()) return invalid("Redrive policy is not a valid JSON map.");
        if (!p.contains("deadLetterTargetArn") || !p.contains("maxReceiveCount")) {
          return invalid("Redrive policy does not contain mandatory attribute: " +
                         std::string(p.contains("deadLetterTargetArn") ? "maxReceiveCount"
                                                                       : "deadLetterTargetArn") +
                         ".");
        }
        int64_t n = 0;
        const json& mrc = p["maxReceiveCount"];
        if (!(mrc.is_number_integer() && (n = mrc.get<int64_t>(), true)) &&
            !(mrc.is_string() && absl::SimpleAtoi(mrc.get<std::string>(), &n))) {
          return invalid("Invalid value for maxReceiveCount.");
        }
        if (n < 1 || n > 1000) {
          return invalid("Invalid value for maxReceiveCount: " + absl::StrCat(n) +
                         ", valid values are from 1 to 1000 both inclusive.");
        }
        const std::string arn =
            p["deadLetterTargetArn"].is_string() ? p["deadLetterTargetArn"].get<std::string>() : "";
        if (QueueByArn(arn) == nullptr) return invalid("Dead-letter target does not exist.");
      }
      (*out)[name] = value;
    }
    return true;
  }

  Queue* QueueByArn(const std::string& arn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const std::string prefix = Arn("");
    if (!absl::StartsWith(arn, prefix)) return nullptr;
    auto it = queues.find(arn.substr(prefix.size()));
    return it == queues.end() ? nullptr : it->second.get();
  }

  bool CreateQueue(const std::string& name, const json& attrs, std::string* url, SqsErr* e)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (absl::EndsWith(name, ".fifo")) {
      *e = Err("AWS.SimpleQueueService.UnsupportedOperation",
               "FIFO queues are not implemented by this fake.");
      return false;
    }
    if (!ValidQueueName(name)) {
      *e = InvalidValue(
          "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length");
      return false;
    }
    std::map<std::string, std::string> given;
    if (!CheckAttributes(attrs, &given, e)) return false;
    const absl::Time now = clock.Now();
    auto it = queues.find(name);
    if (it != queues.end()) {
      for (const auto& [k, v] : given) {
        auto cur = it->second->attrs.find(k);
        const AttrRule* rule = FindRule(k);
        const std::string current = cur != it->second->attrs.end() ? cur->second
                                    : rule && rule->default_value  ? rule->default_value
                                                                   : "";
        if (current != v) {
          *e = Err("QueueAlreadyExists",
                   absl::StrCat("A queue already exists with the same name and a different value "
                                "for attribute ",
                                k));
          return false;
        }
      }
      *url = Url(name);
      return true;
    }
    auto del = deleted_queues.find(name);
    if (del != deleted_queues.end() && now - del->second < absl::Seconds(60)) {
      *e = Err("AWS.SimpleQueueService.QueueDeletedRecently",
               "You must wait 60 seconds after deleting a queue before you can create another with "
               "the same name.");
      return false;
    }
    auto q = std::make_unique<Queue>();
    q->name = name;
    for (const AttrRule& r : kAttrRules) {
      if (r.default_value != nullptr) q->attrs[r.name] = r.default_value;
    }
    for (const auto& [k, v] : given) q->attrs[k] = v;
    if (q->attrs.count("RedrivePolicy") && q->attrs["RedrivePolicy"].empty()) {
      q->attrs.erase("RedrivePolicy");
    }
    q->created = q->modified = now;
    queues[name] = std::move(q);
    *url = Url(name);
    return true;
  }

  // Message attributes of SendMessage (and of each batch entry).
  bool ReadMessageAttributes(const json& in, std::map<std::string, MsgAttr>* out, SqsErr* e) {
    auto it = in.find("MessageAttributes");
    if (it == in.end() || it->is_null()) return true;
    if (!it->is_object()) {
      *e = InvalidValue("MessageAttributes must be a map.");
      return false;
    }
    if (it->size() > 10) {
      *e = InvalidValue(absl::StrCat("Number of message attributes [", it->size(),
                                     "] exceeds the allowed maximum [10]."));
      return false;
    }
    for (const auto& [name, v] : it->items()) {
      bool name_ok = !name.empty() && name.size() <= 256 && name.front() != '.' &&
                     name.back() != '.' && name.find("..") == std::string::npos &&
                     !absl::StartsWithIgnoreCase(name, "aws.") &&
                     !absl::StartsWithIgnoreCase(name, "amazon.");
      for (char c : name) {
        if (!absl::ascii_isalnum(c) && c != '_' && c != '-' && c != '.') name_ok = false;
      }
      if (!name_ok) {
        *e = InvalidValue(absl::StrCat(
            "Message (user) attribute name '", name,
            "' is invalid. The attribute name can contain A-Z, a-z, 0-9, underscore (_), "
            "hyphen (-), and period (.) characters."));
        return false;
      }
      MsgAttr a;
      a.data_type = v.is_object() ? GetStr(v, "DataType") : "";
      const std::string base = a.data_type.substr(0, a.data_type.find('.'));
      if (base != "String" && base != "Number" && base != "Binary") {
        *e = InvalidValue(absl::StrCat("The type of message (user) attribute '", name,
                                       "' is invalid. You must use only the following supported "
                                       "type prefixes: Binary, Number, String."));
        return false;
      }
      if (base == "Binary") {
        const std::string b64 = GetStr(v, "BinaryValue");
        if (b64.empty() || !absl::Base64Unescape(b64, &a.binary_value) || a.binary_value.empty()) {
          *e = InvalidValue(absl::StrCat("The message (user) attribute '", name,
                                         "' must contain a non-empty value of type 'Binary'."));
          return false;
        }
      } else {
        a.string_value = GetStr(v, "StringValue");
        if (a.string_value.empty()) {
          *e = InvalidValue(absl::StrCat("The message (user) attribute '", name,
                                         "' must contain a non-empty value of type '", base, "'."));
          return false;
        }
        double d;
        if (base == "Number" && !absl::SimpleAtod(a.string_value, &d)) {
          *e = InvalidValue(absl::StrCat("Can't cast the value of message (user) attribute '", name,
                                         "' to a number."));
          return false;
        }
      }
      (*out)[name] = a;
    }
    return true;
  }

  static size_t AttributesSize(const std::map<std::string, MsgAttr>& attrs) {
    size_t n = 0;
    for (const auto& [k, a] : attrs) {
      n += k.size() + a.data_type.size() + a.string_value.size() + a.binary_value.size();
    }
    return n;
  }

  // Validates and enqueues one message (SendMessage or a batch entry).
  bool Send(Queue& q, const json& in, const std::string& sender, json* out, SqsErr* e)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (!Has(in, "MessageBody")) {
      *e = Missing("MessageBody");
      return false;
    }
    const std::string body = GetStr(in, "MessageBody");
    if (body.empty()) {
      *e = Missing("MessageBody");
      return false;
    }
    const int64_t bad = FirstInvalidChar(body);
    if (bad != -1) {
      *e = Err("InvalidMessageContents",
               bad == -2
                   ? "The message body is not valid UTF-8."
                   : absl::StrFormat("Invalid binary character '#x%X' was found in the message "
                                     "body, the set of allowed characters is #x9 | #xA | #xD "
                                     "| #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to "
                                     "#x10FFFF",
                                     bad));
      return false;
    }
    std::optional<int64_t> delay;
    if (!GetInt(in, "DelaySeconds", &delay, e)) return false;
    if (delay && (*delay < 0 || *delay > 900)) {
      *e = InvalidValue(absl::StrCat("Value ", *delay,
                                     " for parameter DelaySeconds is invalid. Reason: DelaySeconds "
                                     "must be >= 0 and <= 900."));
      return false;
    }
    std::map<std::string, MsgAttr> attrs;
    if (!ReadMessageAttributes(in, &attrs, e)) return false;
    const int64_t max_size = IntAttr(q, "MaximumMessageSize");
    if (static_cast<int64_t>(body.size() + AttributesSize(attrs)) > max_size) {
      *e = InvalidValue(
          absl::StrCat("One or more parameters are invalid. Reason: Message must be shorter than ",
                       max_size, " bytes."));
      return false;
    }
    if (Has(in, "MessageGroupId") || Has(in, "MessageDeduplicationId")) {
      *e = InvalidValue(absl::StrCat(
          "The request include parameter that is not valid for this queue type. Reason: ",
          Has(in, "MessageGroupId") ? "MessageGroupId" : "MessageDeduplicationId",
          " is only valid for FIFO queues."));
      return false;
    }
    const absl::Time now = clock.Now();
    Message m;
    m.id = NewUuid(rng);
    m.body = body;
    m.md5_body = Md5Hex(body);
    m.attrs = std::move(attrs);
    m.sender_id = sender;
    m.sent = now;
    m.available_at = now + absl::Seconds(delay.value_or(IntAttr(q, "DelaySeconds")));
    (*out)["MessageId"] = m.id;
    (*out)["MD5OfMessageBody"] = m.md5_body;
    if (!m.attrs.empty()) (*out)["MD5OfMessageAttributes"] = Md5OfAttributes(m.attrs);
    q.messages.push_back(std::move(m));
    cv.SignalAll();
    return true;
  }

  Message* FindMessage(Queue& q, const std::string& id) {
    for (Message& m : q.messages) {
      if (m.id == id) return &m;
    }
    return nullptr;
  }

  // DeleteMessage and a DeleteMessageBatch entry.
  bool Delete(Queue& q, const std::string& receipt, SqsErr* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto h = ParseHandle(receipt);
    if (!h || h->queue != q.name) {
      *e = Err("ReceiptHandleIsInvalid", absl::StrCat("The input receipt handle \"", receipt,
                                                      "\" is not a valid receipt handle."));
      return false;
    }
    Message* m = FindMessage(q, h->message_id);
    if (m == nullptr) return true;  // already deleted: DeleteMessage is idempotent
    if (m->receipt != h->serial) {
      // An outdated handle: the request succeeds, the message stays (API
      // reference, DeleteMessage).
      ++q.stale_deletes;
      return true;
    }
    q.deleted.push_back({m->id, m->body, m->receive_count});
    q.messages.remove_if([&](const Message& x) { return x.id == h->message_id; });
    cv.SignalAll();
    return true;
  }

  // ChangeMessageVisibility and a batch entry.
  bool ChangeVisibility(Queue& q, const std::string& receipt, const json& in, SqsErr* e)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::optional<int64_t> vt;
    if (!GetInt(in, "VisibilityTimeout", &vt, e)) return false;
    if (!vt) {
      *e = Missing("VisibilityTimeout");
      return false;
    }
    if (*vt < 0 || *vt > 43200) {
      *e = InvalidValue(absl::StrCat("Value ", *vt,
                                     " for parameter VisibilityTimeout is invalid. Reason: Must be "
                                     ">= 0 and <= 43200, if provided."));
      return false;
    }
    auto h = ParseHandle(receipt);
    if (!h || h->queue != q.name) {
      *e = Err("ReceiptHandleIsInvalid", absl::StrCat("The input receipt handle \"", receipt,
                                                      "\" is not a valid receipt handle."));
      return false;
    }
    const absl::Time now = clock.Now();
    Message* m = FindMessage(q, h->message_id);
    if (m == nullptr || m->receipt != h->serial) {
      *e = InvalidValue(
          absl::StrCat("Value ", receipt,
                       " for parameter ReceiptHandle is invalid. Reason: Message does "
                       "not exist or is not available for visibility timeout change."));
      return false;
    }
    if (!InFlight(*m, now)) {
      *e = Err("AWS.SimpleQueueService.MessageNotInflight", "Message is not in flight.");
      return false;
    }
    if (now + absl::Seconds(*vt) - m->received_at > kMaxVisibility) {
      *e = InvalidValue(absl::StrCat("Value ", *vt,
                                     " for parameter VisibilityTimeout is invalid. Reason: Total "
                                     "VisibilityTimeout for the message is beyond the limit [43200 "
                                     "seconds]"));
      return false;
    }
    m->invisible_until = now + absl::Seconds(*vt);
    cv.SignalAll();
    return true;
  }

  // Batch checks common to the three batch actions.
  bool CheckBatch(const json& in, const char* entry_name, SqsErr* e) {
    auto it = in.find("Entries");
    if (it == in.end() || !it->is_array() || it->empty()) {
      *e = Err("AWS.SimpleQueueService.EmptyBatchRequest",
               absl::StrCat("There should be at least one ", entry_name, " in the request."));
      return false;
    }
    if (it->size() > 10) {
      *e = Err("AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
               absl::StrCat("Maximum number of entries per request are 10. You have sent ",
                            it->size(), "."));
      return false;
    }
    std::set<std::string> ids;
    for (const auto& entry : *it) {
      const std::string id = entry.is_object() ? GetStr(entry, "Id") : "";
      if (!ValidBatchId(id)) {
        *e = Err("AWS.SimpleQueueService.InvalidBatchEntryId",
                 "A batch entry id can only contain alphanumeric characters, hyphens and "
                 "underscores. It can be at most 80 letters long.");
        return false;
      }
      if (!ids.insert(id).second) {
        *e = Err("AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                 absl::StrCat("Id ", id, " repeated."));
        return false;
      }
    }
    return true;
  }

  static json Failed(const std::string& id, const SqsErr& e) {
    return {{"Id", id}, {"SenderFault", e.status < 500}, {"Code", e.code}, {"Message", e.message}};
  }

  // Collects up to `max` visible messages, receiving them; moves those past
  // the redrive policy's maxReceiveCount to the dead-letter queue.
  json Collect(Queue& q, int64_t max, absl::Duration visibility, const std::set<std::string>& sys,
               const std::vector<std::string>& attr_names, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Expire(q, now);
    Queue* dlq = nullptr;
    int64_t max_receives = 0;
    auto rp = q.attrs.find("RedrivePolicy");
    if (rp != q.attrs.end()) {
      json p = json::parse(rp->second, nullptr, false);
      if (p.is_object()) {
        dlq = QueueByArn(p.value("deadLetterTargetArn", ""));
        const json& mrc = p["maxReceiveCount"];
        if (mrc.is_number_integer()) max_receives = mrc.get<int64_t>();
        if (mrc.is_string()) (void)absl::SimpleAtoi(mrc.get<std::string>(), &max_receives);
      }
    }
    json messages = json::array();
    for (auto it = q.messages.begin();
         it != q.messages.end() && static_cast<int64_t>(messages.size()) < max;) {
      Message& m = *it;
      if (!Visible(m, now)) {
        ++it;
        continue;
      }
      if (dlq != nullptr && dlq != &q && max_receives > 0 && m.receive_count >= max_receives) {
        Message moved = std::move(m);
        moved.invisible_until = absl::InfinitePast();
        moved.available_at = now;
        moved.receipt = 0;
        dlq->messages.push_back(std::move(moved));
        it = q.messages.erase(it);
        continue;
      }
      ++m.receive_count;
      if (m.first_received == absl::InfinitePast()) m.first_received = now;
      m.received_at = now;
      m.receipt = next_receipt++;
      m.invisible_until = now + visibility;
      json out = {{"MessageId", m.id},
                  {"ReceiptHandle", MakeHandle(q, m)},
                  {"MD5OfBody", m.md5_body},
                  {"Body", m.body}};
      const bool all = sys.count("All") > 0;
      json attrs = json::object();
      auto want = [&](const char* n) { return all || sys.count(n) > 0; };
      if (want("SenderId")) attrs["SenderId"] = m.sender_id;
      if (want("SentTimestamp")) attrs["SentTimestamp"] = Millis(m.sent);
      if (want("ApproximateReceiveCount"))
        attrs["ApproximateReceiveCount"] = absl::StrCat(m.receive_count);
      if (want("ApproximateFirstReceiveTimestamp")) {
        attrs["ApproximateFirstReceiveTimestamp"] = Millis(m.first_received);
      }
      if (!attrs.empty()) out["Attributes"] = attrs;
      std::map<std::string, MsgAttr> chosen;
      for (const auto& [name, a] : m.attrs) {
        for (const std::string& w : attr_names) {
          if (w == "All" || w == ".*" || w == name ||
              (absl::EndsWith(w, ".*") && absl::StartsWith(name, w.substr(0, w.size() - 1)))) {
            chosen[name] = a;
            break;
          }
        }
      }
      if (!chosen.empty()) {
        out["MD5OfMessageAttributes"] = Md5OfAttributes(chosen);
        json ma = json::object();
        for (const auto& [name, a] : chosen) {
          json v = {{"DataType", a.data_type}};
          if (a.binary()) {
            v["BinaryValue"] = absl::Base64Escape(a.binary_value);
          } else {
            v["StringValue"] = a.string_value;
          }
          ma[name] = v;
        }
        out["MessageAttributes"] = ma;
      }
      messages.push_back(out);
      ++it;
    }
    return messages;
  }

  bool Dispatch(const SqsRequest& r, json* out, SqsErr* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool Receive(const SqsRequest& r, json* out, SqsErr* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
};

bool FakeSqs::State::Receive(const SqsRequest& r, json* out, SqsErr* e) {
  Queue* q = FindQueue(r, e);
  if (q == nullptr) return false;
  const json& in = r.input;
  std::optional<int64_t> max, vt, wait;
  if (!GetInt(in, "MaxNumberOfMessages", &max, e) || !GetInt(in, "VisibilityTimeout", &vt, e) ||
      !GetInt(in, "WaitTimeSeconds", &wait, e)) {
    return false;
  }
  if (max && (*max < 1 || *max > 10)) {
    *e = InvalidValue(absl::StrCat("Value ", *max,
                                   " for parameter MaxNumberOfMessages is invalid. Reason: Must be "
                                   "between 1 and 10, if provided."));
    return false;
  }
  if (vt && (*vt < 0 || *vt > 43200)) {
    *e =
        InvalidValue(absl::StrCat("Value ", *vt,
                                  " for parameter VisibilityTimeout is invalid. Reason: Must be >= "
                                  "0 and <= 43200, if provided."));
    return false;
  }
  if (wait && (*wait < 0 || *wait > 20)) {
    *e =
        InvalidValue(absl::StrCat("Value ", *wait,
                                  " for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 "
                                  "and <= 20, if provided."));
    return false;
  }
  std::set<std::string> sys;
  for (const std::string& n : GetStrList(in, "AttributeNames")) sys.insert(n);
  for (const std::string& n : GetStrList(in, "MessageSystemAttributeNames")) sys.insert(n);
  const std::vector<std::string> attr_names = GetStrList(in, "MessageAttributeNames");
  const std::string name = q->name;
  const absl::Duration visibility = absl::Seconds(vt.value_or(IntAttr(*q, "VisibilityTimeout")));
  const absl::Time poll_end =
      absl::Now() + absl::Seconds(wait.value_or(IntAttr(*q, "ReceiveMessageWaitTimeSeconds")));
  json messages;
  while (true) {
    messages = Collect(*q, max.value_or(1), visibility, sys, attr_names, clock.Now());
    if (!messages.empty() || shutdown) break;
    const absl::Duration left = poll_end - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    // Woken by a send or a visibility change; rechecks every 50 ms for
    // timeouts that end by themselves (and for a fake clock moved by a test).
    cv.WaitWithTimeout(&mu, std::min(left, absl::Milliseconds(50)));
    auto it = queues.find(name);
    if (it == queues.end()) break;  // deleted while polling: nothing to give
    q = it->second.get();
  }
  *out = json::object();
  if (!messages.empty()) (*out)["Messages"] = messages;
  return true;
}

bool FakeSqs::State::Dispatch(const SqsRequest& r, json* out, SqsErr* e) {
  const std::string& a = r.action;
  const json& in = r.input;
  *out = json::object();
  const absl::Time now = clock.Now();
  if (a == "CreateQueue") {
    if (!Has(in, "QueueName")) {
      *e = Missing("QueueName");
      return false;
    }
    std::string url;
    if (!CreateQueue(GetStr(in, "QueueName"), in.contains("Attributes") ? in["Attributes"] : json(),
                     &url, e)) {
      return false;
    }
    (*out)["QueueUrl"] = url;
    return true;
  }
  if (a == "GetQueueUrl") {
    if (!Has(in, "QueueName")) {
      *e = Missing("QueueName");
      return false;
    }
    const std::string owner = GetStr(in, "QueueOwnerAWSAccountId");
    auto it = queues.find(GetStr(in, "QueueName"));
    if (it == queues.end() || (!owner.empty() && owner != kFakeAccountId)) {
      *e = NoQueue(r.json);
      return false;
    }
    (*out)["QueueUrl"] = Url(it->first);
    return true;
  }
  if (a == "ListQueues") {
    std::optional<int64_t> max;
    if (!GetInt(in, "MaxResults", &max, e)) return false;
    if (max && (*max < 1 || *max > 1000)) {
      *e =
          InvalidValue(absl::StrCat("Value ", *max,
                                    " for parameter MaxResults is invalid. Reason: MaxResults must "
                                    "be an integer between 1 and 1000."));
      return false;
    }
    std::string after;
    if (Has(in, "NextToken")) {
      if (!max) {
        *e = InvalidValue(
            "MaxResults is a mandatory parameter when you provide a value for NextToken.");
        return false;
      }
      if (!absl::WebSafeBase64Unescape(GetStr(in, "NextToken"), &after) ||
          !absl::StartsWith(after, "after:")) {
        *e = InvalidValue("Invalid NextToken value.");
        return false;
      }
      after = after.substr(6);
    }
    const std::string prefix = GetStr(in, "QueueNamePrefix");
    json urls = json::array();
    std::string last;
    bool more = false;
    for (const auto& [name, q] : queues) {
      if (!absl::StartsWith(name, prefix) || (!after.empty() && name <= after)) continue;
      if (static_cast<int64_t>(urls.size()) >= max.value_or(1000)) {
        more = true;
        break;
      }
      urls.push_back(Url(name));
      last = name;
    }
    if (!urls.empty()) (*out)["QueueUrls"] = urls;
    if (more && max) (*out)["NextToken"] = absl::WebSafeBase64Escape("after:" + last);
    return true;
  }
  if (a == "ReceiveMessage") return Receive(r, out, e);

  Queue* q = FindQueue(r, e);
  if (q == nullptr) return false;
  Expire(*q, now);
  if (a == "GetQueueAttributes") {
    std::vector<std::string> names = GetStrList(in, "AttributeNames");
    const bool all = std::find(names.begin(), names.end(), "All") != names.end();
    for (const std::string& n : names) {
      if (n == "All" || FindRule(n) != nullptr) continue;
      if (std::find(std::begin(kReadOnlyAttrs), std::end(kReadOnlyAttrs), n) !=
          std::end(kReadOnlyAttrs)) {
        continue;
      }
      *e = Err("InvalidAttributeName", absl::StrCat("Unknown Attribute ", n, "."));
      return false;
    }
    auto want = [&](const std::string& n) {
      return all || std::find(names.begin(), names.end(), n) != names.end();
    };
    int visible = 0, in_flight = 0, delayed = 0;
    for (const Message& m : q->messages) {
      if (Visible(m, now))
        ++visible;
      else if (InFlight(m, now))
        ++in_flight;
      else if (Delayed(m, now))
        ++delayed;
    }
    json attrs = json::object();
    for (const auto& [k, v] : q->attrs) {
      if (want(k)) attrs[k] = v;
    }
    if (want("QueueArn")) attrs["QueueArn"] = Arn(q->name);
    if (want("ApproximateNumberOfMessages"))
      attrs["ApproximateNumberOfMessages"] = absl::StrCat(visible);
    if (want("ApproximateNumberOfMessagesNotVisible")) {
      attrs["ApproximateNumberOfMessagesNotVisible"] = absl::StrCat(in_flight);
    }
    if (want("ApproximateNumberOfMessagesDelayed")) {
      attrs["ApproximateNumberOfMessagesDelayed"] = absl::StrCat(delayed);
    }
    if (want("CreatedTimestamp"))
      attrs["CreatedTimestamp"] = absl::StrCat(absl::ToUnixSeconds(q->created));
    if (want("LastModifiedTimestamp")) {
      attrs["LastModifiedTimestamp"] = absl::StrCat(absl::ToUnixSeconds(q->modified));
    }
    if (!attrs.empty()) (*out)["Attributes"] = attrs;
    return true;
  }
  if (a == "SetQueueAttributes") {
    if (!Has(in, "Attributes")) {
      *e = Missing("Attributes");
      return false;
    }
    std::map<std::string, std::string> given;
    if (!CheckAttributes(in["Attributes"], &given, e)) return false;
    for (const auto& [k, v] : given) {
      if (k == "RedrivePolicy" && v.empty()) {
        q->attrs.erase(k);
      } else {
        q->attrs[k] = v;
      }
    }
    q->modified = now;
    cv.SignalAll();
    return true;
  }
  if (a == "SendMessage") return Send(*q, in, r.access_key_id, out, e);
  if (a == "SendMessageBatch") {
    if (!CheckBatch(in, "SendMessageBatchRequestEntry", e)) return false;
    size_t total = 0;
    for (const auto& entry : in["Entries"]) {
      total += GetStr(entry, "MessageBody").size();
      std::map<std::string, MsgAttr> attrs;
      SqsErr ignored;
      if (ReadMessageAttributes(entry, &attrs, &ignored)) total += AttributesSize(attrs);
    }
    if (total > kMaxBatchBytes) {
      *e = Err("AWS.SimpleQueueService.BatchRequestTooLong",
               absl::StrCat("Batch requests cannot be longer than ", kMaxBatchBytes,
                            " bytes. You have sent ", total, " bytes."));
      return false;
    }
    json ok = json::array(), failed = json::array();
    for (const auto& entry : in["Entries"]) {
      json res = json::object();
      SqsErr ee;
      if (Send(*q, entry, r.access_key_id, &res, &ee)) {
        res["Id"] = GetStr(entry, "Id");
        ok.push_back(res);
      } else {
        failed.push_back(Failed(GetStr(entry, "Id"), ee));
      }
    }
    (*out)["Successful"] = ok;
    (*out)["Failed"] = failed;
    return true;
  }
  if (a == "DeleteMessage") {
    if (!Has(in, "ReceiptHandle")) {
      *e = Missing("ReceiptHandle");
      return false;
    }
    return Delete(*q, GetStr(in, "ReceiptHandle"), e);
  }
  if (a == "ChangeMessageVisibility") {
    if (!Has(in, "ReceiptHandle")) {
      *e = Missing("ReceiptHandle");
      return false;
    }
    return ChangeVisibility(*q, GetStr(in, "ReceiptHandle"), in, e);
  }
  if (a == "DeleteMessageBatch" || a == "ChangeMessageVisibilityBatch") {
    const bool del = a == "DeleteMessageBatch";
    if (!CheckBatch(
            in, del ? "DeleteMessageBatchRequestEntry" : "ChangeMessageVisibilityBatchRequestEntry",
            e)) {
      return false;
    }
    json ok = json::array(), failed = json::array();
    for (const auto& entry : in["Entries"]) {
      const std::string id = GetStr(entry, "Id");
      SqsErr ee;
      bool done;
      if (!Has(entry, "ReceiptHandle")) {
        ee = Missing("ReceiptHandle");
        done = false;
      } else if (del) {
        done = Delete(*q, GetStr(entry, "ReceiptHandle"), &ee);
      } else {
        done = ChangeVisibility(*q, GetStr(entry, "ReceiptHandle"), entry, &ee);
      }
      if (done) {
        ok.push_back({{"Id", id}});
      } else {
        failed.push_back(Failed(id, ee));
      }
    }
    (*out)["Successful"] = ok;
    (*out)["Failed"] = failed;
    return true;
  }
  if (a == "PurgeQueue") {
    if (now - q->last_purge < absl::Seconds(60)) {
      *e = Err("AWS.SimpleQueueService.PurgeQueueInProgress",
               absl::StrCat("Only one PurgeQueue operation on ", q->name,
                            " is allowed every 60 seconds."));
      return false;
    }
    q->last_purge = now;
    q->messages.clear();
    return true;
  }
  if (a == "DeleteQueue") {
    deleted_queues[q->name] = now;
    queues.erase(q->name);
    cv.SignalAll();
    return true;
  }
  *e = r.json ? Err("UnknownOperationException", "")
              : Err("InvalidAction",
                    absl::StrCat("The action ", a, " is not valid for this endpoint."));
  return false;
}

// ---------------------------------------------------------------------------
// The Query protocol's shapes.

namespace {

// Members of one Query object: "Key" scalars, "Key.N" lists, "Attribute.N.Name/Value"
// and "MessageAttribute.N.Name/Value.*" maps.
json ReadQueryObject(const std::map<std::string, std::string>& p) {
  json in = json::object();
  std::map<std::string, std::map<int, std::map<std::string, std::string>>> groups;
  for (const auto& [k, v] : p) {
    const size_t dot = k.find('.');
    if (dot == std::string::npos) {
      if (k != "Action" && k != "Version") in[k] = v;
      continue;
    }
    const std::string head = k.substr(0, dot);
    std::string rest = k.substr(dot + 1);
    const size_t dot2 = rest.find('.');
    int n = 0;
    if (!absl::SimpleAtoi(rest.substr(0, dot2), &n)) continue;
    groups[head][n][dot2 == std::string::npos ? "" : rest.substr(dot2 + 1)] = v;
  }
  auto list = [&](const std::string& head, const char* key) {
    auto it = groups.find(head);
    if (it == groups.end()) return;
    json arr = json::array();
    for (auto& [n, m] : it->second) arr.push_back(m[""]);
    in[key] = arr;
  };
  list("AttributeName", "AttributeNames");
  list("MessageSystemAttributeName", "MessageSystemAttributeNames");
  list("MessageAttributeName", "MessageAttributeNames");
  if (auto it = groups.find("Attribute"); it != groups.end()) {
    json m = json::object();
    for (auto& [n, kv] : it->second) m[kv["Name"]] = kv["Value"];
    in["Attributes"] = m;
  }
  if (auto it = groups.find("MessageAttribute"); it != groups.end()) {
    json m = json::object();
    for (auto& [n, kv] : it->second) {
      json v = json::object();
      for (const char* f : {"StringValue", "BinaryValue", "DataType"}) {
        auto f_it = kv.find(std::string("Value.") + f);
        if (f_it != kv.end()) v[f] = f_it->second;
      }
      m[kv["Name"]] = v;
    }
    in["MessageAttributes"] = m;
  }
  if (auto it = groups.find("Tag"); it != groups.end()) {
    json m = json::object();
    for (auto& [n, kv] : it->second) m[kv["Key"]] = kv["Value"];
    in["tags"] = m;
  }
  return in;
}

}  // namespace

json FakeSqs::QueryToJson(const std::string& action,
                          const std::map<std::string, std::string>& params) {
  const std::string entry_prefix =
      action == "SendMessageBatch"               ? "SendMessageBatchRequestEntry."
      : action == "DeleteMessageBatch"           ? "DeleteMessageBatchRequestEntry."
      : action == "ChangeMessageVisibilityBatch" ? "ChangeMessageVisibilityBatchRequestEntry."
                                                 : "";
  if (entry_prefix.empty()) return ReadQueryObject(params);
  std::map<std::string, std::string> top;
  std::map<int, std::map<std::string, std::string>> entries;
  for (const auto& [k, v] : params) {
    if (!absl::StartsWith(k, entry_prefix)) {
      top[k] = v;
      continue;
    }
    const std::string rest = k.substr(entry_prefix.size());
    const size_t dot = rest.find('.');
    int n = 0;
    if (dot == std::string::npos || !absl::SimpleAtoi(rest.substr(0, dot), &n)) continue;
    entries[n][rest.substr(dot + 1)] = v;
  }
  json in = ReadQueryObject(top);
  json arr = json::array();
  for (const auto& [n, e] : entries) arr.push_back(ReadQueryObject(e));
  if (!arr.empty()) in["Entries"] = arr;
  return in;
}

namespace {

void WriteBatchXml(pugi::xml_node result, const json& out, const char* entry_name) {
  for (const auto& ok : out.value("Successful", json::array())) {
    pugi::xml_node e = result.append_child(entry_name);
    for (const char* f : {"Id", "MessageId", "MD5OfMessageBody", "MD5OfMessageAttributes"}) {
      if (ok.contains(f)) Add(e, f, ok[f].get<std::string>());
    }
  }
  for (const auto& bad : out.value("Failed", json::array())) {
    pugi::xml_node e = result.append_child("BatchResultErrorEntry");
    Add(e, "Id", bad["Id"].get<std::string>());
    Add(e, "SenderFault", bad["SenderFault"].get<bool>() ? "true" : "false");
    Add(e, "Code", bad["Code"].get<std::string>());
    Add(e, "Message", bad["Message"].get<std::string>());
  }
}

std::string ToQueryXml(const std::string& action, const json& out, const std::string& request_id) {
  pugi::xml_document doc;
  doc.append_child(pugi::node_declaration).append_attribute("version") = "1.0";
  pugi::xml_node root = doc.append_child((action + "Response").c_str());
  root.append_attribute("xmlns") = kSqsNs;
  const bool has_result = action == "CreateQueue" || action == "GetQueueUrl" ||
                          action == "GetQueueAttributes" || action == "SendMessage" ||
                          action == "SendMessageBatch" || action == "ReceiveMessage" ||
                          action == "DeleteMessageBatch" ||
                          action == "ChangeMessageVisibilityBatch" || action == "ListQueues";
  if (has_result) {
    pugi::xml_node result = root.append_child((action + "Result").c_str());
    if (action == "CreateQueue" || action == "GetQueueUrl") {
      Add(result, "QueueUrl", out["QueueUrl"].get<std::string>());
    } else if (action == "GetQueueAttributes") {
      const json out_attributes = out.value("Attributes", json::object());
      for (const auto& [k, v] : out_attributes.items()) {
        pugi::xml_node a = result.append_child("Attribute");
        Add(a, "Name", k);
        Add(a, "Value", v.get<std::string>());
      }
    } else if (action == "SendMessage") {
      Add(result, "MD5OfMessageBody", out["MD5OfMessageBody"].get<std::string>());
      if (out.contains("MD5OfMessageAttributes")) {
        Add(result, "MD5OfMessageAttributes", out["MD5OfMessageAttributes"].get<std::string>());
      }
      Add(result, "MessageId", out["MessageId"].get<std::string>());
    } else if (action == "SendMessageBatch") {
      WriteBatchXml(result, out, "SendMessageBatchResultEntry");
    } else if (action == "DeleteMessageBatch") {
      WriteBatchXml(result, out, "DeleteMessageBatchResultEntry");
    } else if (action == "ChangeMessageVisibilityBatch") {
      WriteBatchXml(result, out, "ChangeMessageVisibilityBatchResultEntry");
    } else if (action == "ListQueues") {
      for (const auto& u : out.value("QueueUrls", json::array())) {
        Add(result, "QueueUrl", u.get<std::string>());
      }
      if (out.contains("NextToken"))
        Add(result, "NextToken", out["NextToken"].get<std::string>());
    } else if (action == "ReceiveMessage") {
      for (const auto& m : out.value("Messages", json::array())) {
        pugi::xml_node x = result.append_child("Message");
        for (const char* f : {"MessageId", "ReceiptHandle", "MD5OfBody", "Body"}) {
          Add(x, f, m[f].get<std::string>());
        }
        const json m_attributes = m.value("Attributes", json::object());
        for (const auto& [k, v] : m_attributes.items()) {
          pugi::xml_node a = x.append_child("Attribute");
          Add(a, "Name", k);
          Add(a, "Value", v.get<std::string>());
        }
        if (m.contains("MD5OfMessageAttributes")) {
          Add(x, "MD5OfMessageAttributes", m["MD5OfMessageAttributes"].get<std::string>());
        }
        const json m_messageattributes = m.value("MessageAttributes", json::object());
        for (const auto& [k, v] : m_messageattributes.items()) {
          pugi::xml_node a = x.append_child("MessageAttribute");
          Add(a, "Name", k);
          pugi::xml_node val = a.append_child("Value");
          for (const char* f : {"StringValue", "BinaryValue", "DataType"}) {
            if (v.contains(f)) Add(val, f, v[f].get<std::string>());
          }
        }
      }
    }
  }
  Add(root.append_child("ResponseMetadata"), "RequestId", request_id);
  return ToString(doc);
}

}  // namespace

// ---------------------------------------------------------------------------

FakeSqs::FakeSqs(std::string region, Clock& clock)
    : state_(std::make_unique<State>(std::move(region), clock)) {}

FakeSqs::~FakeSqs() = default;

void FakeSqs::SetEndpoint(const std::string& endpoint) {
  absl::MutexLock lock(&state_->mu);
  state_->endpoint = endpoint;
}

std::string FakeSqs::QueueUrl(const std::string& name) const {
  absl::MutexLock lock(&state_->mu);
  return state_->Url(name);
}

std::string FakeSqs::QueueArn(const std::string& name) const { return state_->Arn(name); }

void FakeSqs::Shutdown() {
  absl::MutexLock lock(&state_->mu);
  state_->shutdown = true;
  state_->cv.SignalAll();
}

SqsAnswer FakeSqs::ErrorAnswer(bool json, const std::string& code, const std::string& message,
                               int status, const std::string& request_id) {
  SqsAnswer a;
  a.status = status;
  a.error_code = code;
  a.headers["x-amzn-RequestId"] = request_id;
  const bool sender = status < 500;
  if (json) {
    a.content_type = "application/x-amz-json-1.0";
    const std::string type = code == "UnknownOperationException" || code == "SerializationException"
                                 ? "com.amazon.coral.service#" + code
                                 : "com.amazonaws.sqs#" + JsonErrorName(code);
    nlohmann::json body = {{"__type", type}};
    if (!message.empty()) body["message"] = message;
    a.body = body.dump();
    a.headers["x-amzn-query-error"] = absl::StrCat(code, ";", sender ? "Sender" : "Receiver");
    return a;
  }
  pugi::xml_document doc;
  doc.append_child(pugi::node_declaration).append_attribute("version") = "1.0";
  pugi::xml_node r = doc.append_child("ErrorResponse");
  r.append_attribute("xmlns") = kSqsNs;
  pugi::xml_node e = r.append_child("Error");
  Add(e, "Type", sender ? "Sender" : "Receiver");
  Add(e, "Code", code);
  Add(e, "Message", message);
  e.append_child("Detail");
  Add(r, "RequestId", request_id);
  a.content_type = "text/xml";
  a.body = ToString(doc);
  return a;
}

SqsAnswer FakeSqs::Handle(const SqsRequest& request) {
  nlohmann::json out;
  SqsErr e;
  bool ok;
  SqsAnswer a;
  try {
    {
      absl::MutexLock lock(&state_->mu);
      ok = state_->Dispatch(request, &out, &e);
    }
    if (!ok) return ErrorAnswer(request.json, e.code, e.message, e.status, request.request_id);
    a.headers["x-amzn-RequestId"] = request.request_id;
    if (request.json) {
      a.content_type = "application/x-amz-json-1.0";
      a.body = out.dump();
    } else {
      a.content_type = "text/xml";
      a.body = ToQueryXml(request.action, out, request.request_id);
    }
  } catch (const nlohmann::json::exception& ex) {
    // A request of a shape the fake did not expect (a member of the wrong
    // JSON type): AWS would refuse it too, so this is an error, not a crash.
    return ErrorAnswer(request.json, request.json ? "SerializationException" : "MalformedInput",
                       absl::StrCat("fake SQS could not read the request: ", ex.what()), 400,
                       request.request_id);
  }
  return a;
}

absl::StatusOr<std::string> FakeSqs::CreateQueue(
    const std::string& name, const std::map<std::string, std::string>& attributes) {
  absl::MutexLock lock(&state_->mu);
  nlohmann::json attrs = nlohmann::json::object();
  for (const auto& [k, v] : attributes) attrs[k] = v;
  std::string url;
  SqsErr e;
  if (!state_->CreateQueue(name, attrs, &url, &e)) {
    return absl::InvalidArgumentError(absl::StrCat(e.code, ": ", e.message));
  }
  return url;
}

absl::StatusOr<std::string> FakeSqs::Enqueue(
    const std::string& queue, const std::string& body,
    const std::map<std::string, std::string>& string_attributes, absl::Duration delay) {
  absl::MutexLock lock(&state_->mu);
  auto it = state_->queues.find(queue);
  if (it == state_->queues.end()) return absl::NotFoundError(absl::StrCat("no queue ", queue));
  nlohmann::json in = {{"MessageBody", body}};
  if (delay > absl::ZeroDuration()) in["DelaySeconds"] = absl::ToInt64Seconds(delay);
  for (const auto& [k, v] : string_attributes) {
    in["MessageAttributes"][k] = {{"DataType", "String"}, {"StringValue", v}};
  }
  nlohmann::json out;
  SqsErr e;
  if (!state_->Send(*it->second, in, "AIDAFAKETESTHOOK", &out, &e)) {
    return absl::InvalidArgumentError(absl::StrCat(e.code, ": ", e.message));
  }
  return out["MessageId"].get<std::string>();
}

absl::StatusOr<std::string> FakeSqs::EnqueueByArn(const std::string& arn, const std::string& body) {
  absl::MutexLock lock(&state_->mu);
  State::Queue* q = state_->QueueByArn(arn);
  if (q == nullptr) return absl::NotFoundError(absl::StrCat("no queue ", arn));
  nlohmann::json out;
  SqsErr e;
  if (!state_->Send(*q, {{"MessageBody", body}}, "AIDAAUTOSCALING", &out, &e)) {
    return absl::InvalidArgumentError(absl::StrCat(e.code, ": ", e.message));
  }
  return out["MessageId"].get<std::string>();
}

bool FakeSqs::HasQueueArn(const std::string& arn) {
  absl::MutexLock lock(&state_->mu);
  return state_->QueueByArn(arn) != nullptr;
}

absl::StatusOr<FakeSqsCounts> FakeSqs::Counts(const std::string& queue) {
  absl::MutexLock lock(&state_->mu);
  auto it = state_->queues.find(queue);
  if (it == state_->queues.end()) return absl::NotFoundError(absl::StrCat("no queue ", queue));
  const absl::Time now = state_->clock.Now();
  State::Queue& q = *it->second;
  state_->Expire(q, now);
  FakeSqsCounts c;
  for (const State::Message& m : q.messages) {
    if (State::Visible(m, now))
      ++c.visible;
    else if (State::InFlight(m, now))
      ++c.in_flight;
    else if (State::Delayed(m, now))
      ++c.delayed;
  }
  c.deleted = static_cast<int>(q.deleted.size());
  c.stale_deletes = q.stale_deletes;
  return c;
}

std::vector<FakeSqsMessage> FakeSqs::Messages(const std::string& queue) {
  absl::MutexLock lock(&state_->mu);
  std::vector<FakeSqsMessage> out;
  auto it = state_->queues.find(queue);
  if (it == state_->queues.end()) return out;
  const absl::Time now = state_->clock.Now();
  state_->Expire(*it->second, now);
  for (const State::Message& m : it->second->messages) {
    FakeSqsMessage f;
    f.message_id = m.id;
    f.body = m.body;
    for (const auto& [k, a] : m.attrs) {
      if (!a.binary()) f.string_attributes[k] = a.string_value;
    }
    f.receive_count = m.receive_count;
    f.visible = State::Visible(m, now);
    f.in_flight = State::InFlight(m, now);
    f.delayed = State::Delayed(m, now);
    f.sent = m.sent;
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<FakeSqsDeleted> FakeSqs::Deleted(const std::string& queue) {
  absl::MutexLock lock(&state_->mu);
  auto it = state_->queues.find(queue);
  if (it == state_->queues.end()) return {};
  return it->second->deleted;
}

}  // namespace hollowtrees::testing
