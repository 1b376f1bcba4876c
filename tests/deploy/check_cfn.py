#!/usr/bin/env python3
"""Checks deploy/aws/events-queue.yaml, the CloudFormation template of the
SQS queue and EventBridge rules the engine's SQS source reads, without AWS:

  spec      every resource type, property and GetAtt attribute exists in the
            CloudFormation resource specification (@aws-cdk/cfnspec, pinned in
            tests/tools), every required property is set, and properties
            have the specification's primitive types where they are literal;
  refs      every Ref/GetAtt/Sub names a parameter or resource of the
            template; parameter defaults satisfy their own constraints;
  policy    the queue policy lets EventBridge send only from the template's
            own rules, all of them, and refuses plain HTTP;
  patterns  each rule's EventPattern, evaluated with EventBridge's matching
            rules, matches exactly the AWS sample events of its kind
            (tests/engine/testdata/aws_events, the bodies the engine's
            converter is tested with) and nothing else: one rule per kind,
            no kind without a rule, and events the engine does not handle
            (an instance starting, an AMI change) match none;
  engine    the queue's redrive policy and retention match what the engine
            and docs/engine.md say (the engine leaves malformed messages for
            the dead-letter queue).

Prints one line per check and "N passed, M failed" last; exits 1 on failure.
"""
import copy
import json
import os
import re
import sys

import yaml

SRC = os.environ.get("HT_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TEMPLATE = os.path.join(SRC, "deploy/aws/events-queue.yaml")
SPEC = os.path.join(SRC, "tests/tools/node_modules/@aws-cdk/cfnspec/spec/specification.json")
SAMPLES = os.path.join(SRC, "tests/engine/testdata/aws_events")


# --------------------------------------------------------------- the template

class Fn:
    """A CloudFormation intrinsic function written in short form."""

    def __init__(self, name, arg):
        self.name = name
        self.arg = arg

    def __repr__(self):
        return "!%s %r" % (self.name, self.arg)


class CfnLoader(yaml.SafeLoader):
    pass


def _short_form(name):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            arg = loader.construct_scalar(node)
            if name == "GetAtt":
                arg = arg.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            arg = loader.construct_sequence(node, deep=True)
        else:
            arg = loader.construct_mapping(node, deep=True)
        return Fn(name, arg)
    return construct


for _fn in ("Ref", "GetAtt", "Sub", "Join", "Select", "Split", "If", "Equals", "Not", "And",
            "Or", "FindInMap", "Base64", "Cidr", "ImportValue", "GetAZs"):
    CfnLoader.add_constructor("!" + _fn, _short_form(_fn))


def walk(value):
    """Every value in a nested structure, functions' arguments included."""
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)
    elif isinstance(value, Fn):
        yield from walk(value.arg)


# ------------------------------------------------------ EventBridge patterns

def pattern_matches(pattern, event):
    """EventBridge matching for the forms the template uses: a field's list
    of values matches when the event's value (or any element of an array) is
    one of them; a nested object matches field by field; a field the pattern
    names must be present in the event."""
    if not isinstance(pattern, dict):
        raise ValueError("a pattern is an object, not %r" % (pattern,))
    if not isinstance(event, dict):
        return False
    for key, want in pattern.items():
        if key not in event:
            return False
        got = event[key]
        if isinstance(want, dict):
            if not pattern_matches(want, got):
                return False
        elif isinstance(want, list):
            if not all(isinstance(w, (str, int, float, bool)) or w is None for w in want):
                raise ValueError("pattern %s: only literal values are supported here: %r"
                                 % (key, want))
            values = got if isinstance(got, list) else [got]
            if not any(v in want for v in values):
                return False
        else:
            raise ValueError("pattern %s: a value must be a list or an object, not %r"
                             % (key, want))
    return True


# ------------------------------------------------------------------- checks

class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print("  PASS %s" % what, flush=True)
        else:
            self.failed += 1
            print("  FAIL %s%s" % (what, ": " + detail if detail else ""), flush=True)
        return ok


PRIMITIVE_OK = {
    "String": lambda v: isinstance(v, str),
    "Integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Long": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Double": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "Boolean": lambda v: isinstance(v, bool) or v in ("true", "false"),
    "Json": lambda v: isinstance(v, (dict, str)),
    "Timestamp": lambda v: isinstance(v, str),
}


def check_spec(c, template, spec):
    types = spec["ResourceTypes"]
    for name, res in template["Resources"].items():
        rtype = res.get("Type")
        if not c.check(rtype in types, "%s: type %s exists" % (name, rtype)):
            continue
        rspec = types[rtype]
        props = res.get("Properties", {})
        known = rspec.get("Properties", {})
        unknown = sorted(set(props) - set(known))
        c.check(not unknown, "%s: every property is one of %s's" % (name, rtype),
                "unknown: %s" % unknown)
        missing = sorted(p for p, ps in known.items() if ps.get("Required") and p not in props)
        c.check(not missing, "%s: required properties set" % name, "missing: %s" % missing)
        for p, v in props.items():
            ps = known.get(p)
            if ps is None or isinstance(v, Fn):
                continue
            prim = ps.get("PrimitiveType")
            if prim and prim in PRIMITIVE_OK:
                c.check(PRIMITIVE_OK[prim](v), "%s.%s is a %s" % (name, p, prim), repr(v)[:80])
            if ps.get("Type") == "List" and not isinstance(v, list):
                c.check(False, "%s.%s is a list" % (name, p), repr(v)[:80])
    getatts = sorted({tuple(v.arg) for v in walk(template) if isinstance(v, Fn) and
                      v.name == "GetAtt"})
    for res_name, attr in getatts:
        res = template["Resources"].get(res_name)
        if res is None:
            continue  # reported by check_refs
        attrs = types.get(res["Type"], {}).get("Attributes", {})
        c.check(attr in attrs, "GetAtt %s.%s is an attribute of %s" % (res_name, attr,
                                                                      res["Type"]))


def check_refs(c, template):
    params = template.get("Parameters", {})
    resources = template["Resources"]
    names = set(params) | set(resources) | {"AWS::Region", "AWS::AccountId", "AWS::Partition",
                                            "AWS::StackName", "AWS::URLSuffix"}
    bad = []
    for value in walk(template):
        if not isinstance(value, Fn):
            continue
        if value.name == "Ref" and value.arg not in names:
            bad.append("Ref %s" % value.arg)
        elif value.name == "GetAtt" and value.arg[0] not in resources:
            bad.append("GetAtt %s" % ".".join(value.arg))
        elif value.name == "Sub":
            text = value.arg if isinstance(value.arg, str) else value.arg[0]
            for var in re.findall(r"\$\{([^}!]+)\}", text):
                if var.split(".")[0] not in names:
                    bad.append("Sub ${%s}" % var)
    c.check(not bad, "every Ref, GetAtt and Sub names something of the template", str(bad))
    for name, p in params.items():
        d = p.get("Default")
        if d is None:
            continue
        if "AllowedPattern" in p:
            c.check(re.fullmatch(p["AllowedPattern"].strip("^$"), str(d)) is not None,
                    "parameter %s: default %r fits its AllowedPattern" % (name, d))
        if "MinValue" in p:
            c.check(p["MinValue"] <= d <= p.get("MaxValue", d),
                    "parameter %s: default %r within [%s, %s]" % (name, d, p["MinValue"],
                                                                  p.get("MaxValue")))
    unused = [n for n in params
              if not any(isinstance(v, Fn) and ((v.name == "Ref" and v.arg == n) or
                                                (v.name == "Sub" and "${%s}" % n in str(v.arg)))
                         for v in walk(template["Resources"]))]
    c.check(not unused, "every parameter is used", str(unused))


def rules_of(template):
    return {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::Events::Rule"}


def check_policy(c, template):
    resources = template["Resources"]
    policies = [r for r in resources.values() if r["Type"] == "AWS::SQS::QueuePolicy"]
    if not c.check(len(policies) == 1, "one queue policy"):
        return
    statements = policies[0]["Properties"]["PolicyDocument"]["Statement"]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    c.check(len(allow) == 1 and allow[0]["Principal"] == {"Service": "events.amazonaws.com"} and
            allow[0]["Action"] == "sqs:SendMessage",
            "the only Allow is sqs:SendMessage for events.amazonaws.com", json.dumps(
                allow, default=repr)[:200])
    if allow:
        arns = allow[0].get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn", [])
        named = sorted(a.arg[0] for a in arns if isinstance(a, Fn) and a.name == "GetAtt")
        c.check(named == sorted(rules_of(template)),
                "the Allow is conditioned on exactly the template's rules",
                "policy names %s, rules are %s" % (named, sorted(rules_of(template))))
    deny_http = [s for s in statements if s["Effect"] == "Deny" and
                 s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
    c.check(len(deny_http) == 1, "plain HTTP is denied")
    for name, rule in rules_of(template).items():
        targets = rule["Properties"].get("Targets", [])
        c.check(len(targets) == 1 and isinstance(targets[0]["Arn"], Fn) and
                targets[0]["Arn"].arg == ["Queue", "Arn"], "%s targets the queue" % name)


def load_sample(name):
    with open(os.path.join(SAMPLES, name)) as f:
        return json.load(f)


def check_patterns(c, template):
    rules = rules_of(template)
    patterns = {n: r["Properties"]["EventPattern"] for n, r in rules.items()}
    state = load_sample("state_change.json")
    shutting_down = copy.deepcopy(state)
    shutting_down["detail"]["state"] = "shutting-down"
    stopping = copy.deepcopy(state)
    stopping["detail"]["state"] = "stopping"
    ami = {"version": "0", "id": "x", "detail-type": "EC2 AMI State Change", "source": "aws.ec2",
           "account": "123456789012", "time": "2026-12-06T10:00:00Z", "region": "us-east-1",
           "resources": [], "detail": {"State": "available"}}
    health_other = copy.deepcopy(load_sample("health_scheduled_change.json"))
    health_other["detail"]["service"] = "RDS"
    # (what, event, the one rule that must match it, or None)
    cases = [
        ("spot interruption warning", load_sample("spot_interruption_warning.json"),
         "SpotInterruptionRule"),
        ("rebalance recommendation", load_sample("rebalance_recommendation.json"),
         "RebalanceRecommendationRule"),
        ("instance shutting down", shutting_down, "StateChangeRule"),
        ("instance stopping", stopping, "StateChangeRule"),
        ("instance pending (AWS's own example): not a node going away", state, None),
        ("capacity reservation interruption",
         load_sample("capacity_reservation_interruption_warning_filled.json"),
         "CapacityReservationInterruptionRule"),
        ("AWS Health scheduled change", load_sample("health_scheduled_change.json"),
         "ScheduledChangeRule"),
        ("AWS Health retirement of several instances",
         load_sample("health_scheduled_change_several.json"), "ScheduledChangeRule"),
        ("AWS Health event of another service", health_other, None),
        ("terminate lifecycle action", load_sample("asg_terminate_lifecycle_action.json"),
         "LifecycleActionRule"),
        ("terminate lifecycle action (as recorded)",
         load_sample("asg_terminate_lifecycle_action_nth.json"), "LifecycleActionRule"),
        ("launch lifecycle action", load_sample("asg_launch_lifecycle_action.json"),
         "LifecycleActionRule"),
        ("an AMI state change", ami, None),
    ]
    for what, event, want in cases:
        try:
            got = sorted(n for n, p in patterns.items() if pattern_matches(p, event))
        except ValueError as e:
            c.check(False, what, str(e))
            continue
        c.check(got == ([want] if want else []), "%s matches %s" % (what, want or "no rule"),
                "matched %s" % got)
    used = {want for _, _, want in cases if want}
    c.check(used == set(patterns), "every rule is exercised by a sample",
            "rules without a sample: %s" % sorted(set(patterns) - used))


def check_engine_fit(c, template):
    q = template["Resources"]["Queue"]["Properties"]
    c.check("RedrivePolicy" in q and isinstance(q["RedrivePolicy"]["deadLetterTargetArn"], Fn),
            "the queue has a dead-letter queue (malformed messages end there)")
    c.check(q.get("ReceiveMessageWaitTimeSeconds") == 20, "the queue long-polls 20 s by default")
    dlq = template["Resources"]["DeadLetterQueue"]["Properties"]
    c.check(dlq.get("MessageRetentionPeriod") == 1209600,
            "the dead-letter queue keeps messages 14 days (to look at)")


def main():
    c = Checks()
    with open(TEMPLATE) as f:
        template = yaml.load(f, Loader=CfnLoader)
    print("deploy/aws/events-queue.yaml", flush=True)
    if not os.path.exists(SPEC):
        print("  FAIL the CloudFormation specification is not installed (%s): run "
              "scripts/install-test-tools.sh" % SPEC)
        print("0 passed, 1 failed")
        return 1
    with open(SPEC) as f:
        spec = json.load(f)
    check_spec(c, template, spec)
    check_refs(c, template)
    check_policy(c, template)
    check_patterns(c, template)
    check_engine_fit(c, template)
    print("%d passed, %d failed" % (c.passed, c.failed), flush=True)
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
