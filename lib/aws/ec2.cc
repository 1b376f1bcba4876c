#include "lib/aws/ec2.h"

#include "absl/strings/str_cat.h"
#include "lib/common/status_macros.h"

namespace hollowtrees::aws {

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
      Ec2Instance out;
      out.instance_id = instance_id;
      out.instance_type = XmlText(i, "instanceType");
      out.availability_zone = XmlText(i, "placement/availabilityZone");
      out.state = XmlText(i, "instanceState/name");
      out.lifecycle = XmlText(i, "instanceLifecycle");
      for (auto t : XmlChild(i, "tagSet").children("item")) {
        out.tags[XmlText(t, "key")] = XmlText(t, "value");
      }
      return std::optional<Ec2Instance>(std::move(out));
    }
  }
  return std::optional<Ec2Instance>();
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
