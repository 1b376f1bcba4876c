#include "lib/aws/ec2.h"

#include <algorithm>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "lib/common/status_macros.h"

namespace hollowtrees::aws {

namespace {

Ec2Instance ParseInstance(const pugi::xml_node& i, const std::string& owner_id) {
  Ec2Instance out;
  out.instance_id = XmlText(i, "instanceId");
  out.instance_type = XmlText(i, "instanceType");
  out.availability_zone = XmlText(i, "placement/availabilityZone");
  out.state = XmlText(i, "instanceState/name");
  out.lifecycle = XmlText(i, "instanceLifecycle");
  out.owner_id = owner_id;
  for (auto t : XmlChild(i, "tagSet").children("item")) {
    out.tags[XmlText(t, "key")] = XmlText(t, "value");
  }
  return out;
}

}  // namespace

absl::StatusOr<std::optional<Ec2Instance>> Ec2Client::DescribeInstance(const std::string& instance_id,
                                                                       absl::Time deadline) {
  auto doc = client_.Call("DescribeInstances", {{"InstanceId.1", instance_id}}, deadline);
  if (!doc.ok()) {
    if (IsAwsError(doc.status(), "InvalidInstanceID.NotFound")) return std::optional<Ec2Instance>();
    return doc.status();
  }
  pugi::xml_node root = (*doc)->document_element();
  for (auto r : XmlChild(root, "reservationSet").children("item")) {
    for (auto i : XmlChild(r, "instancesSet").children("item")) {
      if (XmlText(i, "instanceId") != instance_id) continue;
      return std::optional<Ec2Instance>(ParseInstance(i, XmlText(r, "ownerId")));
    }
  }
  return std::optional<Ec2Instance>();
}

absl::StatusOr<std::vector<Ec2Instance>> Ec2Client::DescribeInstances(
    const std::vector<std::string>& instance_ids, absl::Time deadline, int max_pages) {
  // An empty filter would list every instance of the account: ask nothing.
  std::vector<std::string> ids;
  std::unordered_set<std::string> wanted;
  for (const std::string& id : instance_ids) {
    if (wanted.insert(id).second) ids.push_back(id);
  }
  std::vector<Ec2Instance> out;
  std::unordered_set<std::string> seen;
  for (size_t start = 0; start < ids.size(); start += kEc2MaxFilterValues) {
    const size_t end = std::min(ids.size(), start + kEc2MaxFilterValues);
    std::string next;
    int page = 0;
    do {
      if (page++ == max_pages) {
        return absl::ResourceExhaustedError(
            absl::StrCat("DescribeInstances: more than ", max_pages, " pages"));
      }
      QueryParams p = {{"Filter.1.Name", "instance-id"}};
      for (size_t k = start; k < end; ++k) {
        p.emplace_back(absl::StrCat("Filter.1.Value.", k - start + 1), ids[k]);
      }
      if (!next.empty()) p.emplace_back("NextToken", next);
      HT_ASSIGN_OR_RETURN(auto doc, client_.Call("DescribeInstances", p, deadline));
      pugi::xml_node root = doc->document_element();
      for (auto r : XmlChild(root, "reservationSet").children("item")) {
        const std::string owner = XmlText(r, "ownerId");
        for (auto i : XmlChild(r, "instancesSet").children("item")) {
          Ec2Instance inst = ParseInstance(i, owner);
          // Only what was asked, once (a page boundary never repeats one, but
          // an answer is not trusted to be a filter's).
          if (!wanted.contains(inst.instance_id) || !seen.insert(inst.instance_id).second) continue;
          out.push_back(std::move(inst));
        }
      }
      next = XmlText(root, "nextToken");
    } while (!next.empty());
  }
  return out;
}

absl::StatusOr<std::vector<InstanceStateChange>> Ec2Client::TerminateInstances(
    const std::vector<std::string>& instance_ids, absl::Time deadline) {
  QueryParams p;
  for (size_t i = 0; i < instance_ids.size(); ++i) {
    p.emplace_back(absl::StrCat("InstanceId.", i + 1), instance_ids[i]);
  }
  HT_ASSIGN_OR_RETURN(auto doc, client_.Call("TerminateInstances", p, deadline));
  std::vector<InstanceStateChange> out;
  for (auto i : XmlChild(doc->document_element(), "instancesSet").children("item")) {
    out.push_back({XmlText(i, "instanceId"), XmlText(i, "previousState/name"),
                   XmlText(i, "currentState/name")});
  }
  return out;
}

}  // namespace hollowtrees::aws
