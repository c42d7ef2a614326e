"""The one catalogue of what the services say to people, in English and in Chinese as a
discipline-inspection office writes it: each problem code's title, each sentence a problem's detail
or a field's message is made of (by message id, str.format placeholders), the Chinese for Pydantic's
validation errors, the office's term for each value of a vocabulary, and the CLI's messages.

Both languages of a sentence take the same placeholders (tests/test_languages.py holds them to it).
Words follow DESIGN.md §2: 举报 report, 被反映人 the official reported, 核查 verification, 澄清正名
clarification, 失信黑名单 blacklist, 信用修复 credit repair, 异议 objection, 容错免责 fault-tolerance
exemption, 查询码 receipt code, 辖区 jurisdiction."""

from __future__ import annotations

from typing import NamedTuple


class Text(NamedTuple):
    en: str
    zh: str


# --- problem titles, by code ------------------------------------------------------------------------------

TITLES: dict[str, Text] = {
    # every service
    "error": Text("Request could not be processed", "请求未能办理"),
    "validation_failed": Text("Request is not valid", "请求内容不符合要求"),
    "not_found": Text("Not found", "未找到"),
    "conflict": Text("Conflict with the current state", "与当前状态冲突"),
    "unauthorized": Text("Authentication required", "需要身份认证"),
    "forbidden": Text("Not allowed", "无权进行此项操作"),
    "database_unavailable": Text("Database unavailable", "数据库暂不可用"),
    "invalid_cursor": Text("Cursor is not valid", "分页游标无效"),
    "region_outside_jurisdiction": Text("Region outside your jurisdiction", "所涉地区不在您的辖区内"),
    "rate_limited": Text("Too many requests", "请求过于频繁"),
    "bad_request": Text("There was an error parsing the body", "请求体无法解析"),
    "method_not_allowed": Text("Method not allowed", "不支持该请求方法"),
    "payload_too_large": Text("Request body too large", "请求体过大"),
    "http_error": Text("HTTP error", "HTTP 错误"),
    "internal_error": Text("Internal error", "系统内部错误"),
    # intake
    "report_not_found": Text("Report not found", "未找到该举报"),
    "receipt_not_found": Text("No report has this receipt code", "没有与该查询码对应的举报"),
    "idempotency_key_reused": Text("Idempotency-Key already used for a different request",
                                   "该 Idempotency-Key 已用于另一请求"),
    "identity_release_refused": Text("The reporter's identity is not released to you", "不向您提供举报人身份信息"),
    "identity_release_deferred": Text("The reporter's identity cannot be released for this verdict",
                                      "暂不能依据该核查结论提供举报人身份信息"),
    "identity_request_not_found": Text("Identity-access request not found", "未找到该身份信息查阅申请"),
    "identity_decision_refused": Text("You may not decide this identity-access request",
                                      "您无权决定该身份信息查阅申请"),
    "identity_request_already_decided": Text("The identity-access request was already decided",
                                             "该身份信息查阅申请已作出决定"),
    # verification
    "case_not_found": Text("Case not found", "未找到该核查案件"),
    "case_not_editable": Text("The case is not open for this change", "该核查案件当前不能作此变更"),
    "findings_missing": Text("Some allegations have no finding yet", "部分问题线索尚未作出核查认定"),
    "assessment_incomplete": Text("The malice assessment is incomplete", "恶意举报评估尚不完整"),
    "approval_refused": Text("You may not approve this verdict", "您无权审批该核查结论"),
    "correction_not_found": Text("Correction not found", "未找到该更正申请"),
    "correction_pending": Text("A correction of this case is waiting for its decision",
                               "该案件已有一项待审批的更正申请"),
    "correction_already_decided": Text("The correction was already decided", "该更正申请已作出决定"),
    "correction_refused": Text("You may not approve this correction", "您无权审批该更正申请"),
    # clarification
    "clarification_not_found": Text("Clarification not found", "未找到该澄清正名事项"),
    "meeting_not_found": Text("Meeting not found", "未找到该澄清通报会"),
    "nothing_to_clarify": Text("This report's verdict leaves nothing to clarify", "该举报的核查结论无需澄清正名"),
    "not_allowed_in_this_state": Text("Not possible in the current state", "当前状态下不能办理此事项"),
    "venue_not_found": Text("Venue not found", "未找到该会场"),
    "scheduling_conflict": Text("The meeting cannot be held then", "该时段不能召开澄清通报会"),
    # credit blacklist
    "entry_not_found": Text("Blacklist entry not found", "未找到该失信黑名单记录"),
    "decision_refused": Text("You may not decide this", "您无权作出此项决定"),
    "objection_not_found": Text("Objection not found", "未找到该异议"),
    "objection_refused": Text("The objection cannot be filed", "不能登记该异议"),
    "objection_already_decided": Text("The objection was already decided", "该异议已作出决定"),
    "removal_request_not_found": Text("Repair or revocation request not found", "未找到该信用修复或撤销申请"),
    "removal_request_pending": Text("A repair or revocation request for this entry is waiting for its decision",
                                    "该记录已有一项待决定的信用修复或撤销申请"),
    "removal_request_already_decided": Text("The request was already decided", "该申请已作出决定"),
    "repair_not_yet_possible": Text("Credit repair is not possible now", "目前不能进行信用修复"),
    "revocation_not_possible": Text("The entry cannot be revoked now", "目前不能撤销该记录"),
}


# --- sentences, by message id ----------------------------------------------------------------------------

MESSAGES: dict[str, Text] = {
    # the HTTP layer (shared/problems.py, shared/middleware.py, shared/fastroute.py)
    "http.not_found": Text("Not Found", "请求的地址不存在"),
    "http.method_not_allowed": Text("Method Not Allowed", "该地址不支持此请求方法"),
    "http.body_unparsable": Text("There was an error parsing the body", "请求体无法解析"),
    "http.client_went_away": Text("the client went away before sending the whole body",
                                  "客户端在请求体发送完毕前断开了连接"),
    "http.body_too_large": Text("the body may be at most {limit} bytes", "请求体不得超过 {limit} 字节"),
    "http.nul_in_path": Text("NUL characters are not allowed in the path or query",
                             "路径和查询参数中不得含有 NUL 字符"),
    "http.database_unavailable": Text(
        "The database could not be reached, so the request may not have taken effect; retry it shortly.",
        "数据库暂时无法连接，请求可能未生效，请稍后重试。"),
    "http.internal_error": Text("The request failed; nothing was changed. Quote the request id to support.",
                                "请求处理失败，未作任何变更。联系技术支持时请提供请求编号（request_id）。"),
    "validation.summary": Text("{count} problem(s) in the request; first at '{field}'",
                               "请求中有 {count} 处问题，第一处位于“{field}”"),
    "validation.json_invalid": Text("body is not valid JSON", "请求体不是有效的 JSON"),
    # authentication and authorization (shared/auth.py, shared/signing.py)
    "auth.bearer_required": Text("a bearer token is required", "需要提供 Bearer 令牌"),
    "auth.token_expired": Text("token has expired", "令牌已过期"),
    "auth.token_invalid": Text("token is not valid: {reason}", "令牌无效：{reason}"),
    "auth.token_unknown_key": Text("token is signed by a key this service does not know ({key_id})",
                                   "令牌由本服务不认可的密钥签发（{key_id}）"),
    "auth.token_too_long": Text("token lives longer than {hours} hours; ask for a shorter one",
                                "令牌有效期超过 {hours} 小时，请申请有效期更短的令牌"),
    "auth.token_claims": Text("token lacks a valid region or org_level claim",
                              "令牌缺少有效的辖区（region）或机关层级（org_level）声明"),
    "auth.scope_missing": Text("token lacks scope {scopes}", "令牌缺少权限范围 {scopes}"),
    "auth.scope_one_of": Text("token needs one of the scopes {scopes}", "令牌须具备下列权限范围之一：{scopes}"),
    "auth.region_outside": Text("region {region} is outside your jurisdiction {jurisdiction}",
                                "地区 {region} 不在您的辖区 {jurisdiction} 内"),
    "auth.credential_invalid": Text("service credential is not valid: {reason}", "服务凭据无效：{reason}"),
    "auth.credential_unknown_key": Text("service credential signed by a key this service does not accept",
                                        "服务凭据由本服务不接受的密钥签发"),
    "auth.credential_misdirected": Text("service credential names another service or lives too long",
                                        "服务凭据所指并非本服务，或有效期过长"),
    # rate limiting and paging (shared/ratelimit.py, shared/pagination.py, shared/audit_api.py)
    "rate.slow_down": Text("slow down: try again in {retry_after} s", "请求过于频繁，请于 {retry_after} 秒后重试"),
    "cursor.not_issued": Text("the cursor was not issued by this service", "该分页游标并非本服务签发"),
    "cursor.not_from_a_page": Text("not a cursor from a previous page", "不是上一页返回的分页游标"),
    # our own validators (Pydantic `value_error`: shared/schemas.py, shared/identity.py, services/*/schemas.py)
    "value.nul_characters": Text("NUL characters are not allowed", "不得含有 NUL 字符"),
    "value.year_range": Text("year must be between 1900 and 9998", "年份须在 1900 至 9998 之间"),
    "value.reason_sentence": Text(
        "give the reason as a sentence: at least {minimum} letters or digits, not only punctuation or spaces",
        "请用完整的语句说明理由：至少 {minimum} 个文字或数字，不能只有标点或空格"),
    "value.resident_id": Text("not a valid resident ID number ({reason})", "不是有效的居民身份证号码（{reason}）"),
    "value.province_prefix": Text("no province-level division has the code prefix {prefix}",
                                  "没有以 {prefix} 开头的省级行政区划代码"),
    "value.anonymous_with_identity": Text("an anonymous reporter gives no identity, but {fields} was sent",
                                          "匿名举报不提供身份信息，但提交了 {fields}"),
    "value.named_reporter_fields": Text("a named reporter needs name and id_number",
                                        "实名举报须提供姓名（name）和身份证号码（id_number）"),
    "value.allegations_repeated": Text("allegation(s) listed more than once: {ids}", "问题线索重复列出：{ids}"),
    "value.distinctions_missing": Text("answer every distinction; missing {missing}",
                                       "须逐项回答“三个区分开来”，尚缺：{missing}"),
    "value.checks_missing": Text("answer every check; missing {missing}", "须逐项回答各项审查，尚缺：{missing}"),
    "value.local_time": Text("a local Asia/Shanghai time without offset, e.g. 08:30",
                             "应为北京时间（Asia/Shanghai）的本地时刻，不带时区偏移，例如 08:30"),
    "value.closes_after_opens": Text("closes_at must be after opens_at",
                                     "结束时间（closes_at）须晚于开始时间（opens_at）"),
    # intake
    "intake.report_not_found": Text("no report {report_id} in your jurisdiction", "您的辖区内没有举报 {report_id}"),
    "intake.receipt_not_found": Text("check the code and try again", "请核对查询码后重试"),
    "intake.key_reused": Text(
        "this Idempotency-Key was first sent with a different body; use a new key for a new report",
        "该 Idempotency-Key 首次使用时的请求内容与本次不同；提交新的举报请使用新的键值"),
    "intake.key_used_for_other_body": Text("already used for a different body", "已用于内容不同的请求"),
    "intake.not_stored": Text(
        "the database is unavailable, so the report may not have been stored; retry with the same "
        "Idempotency-Key, which answers the first report if it was",
        "数据库暂不可用，举报可能未能保存；请使用同一 Idempotency-Key 重试，如已保存将返回首次提交的结果"),
    "intake.listing_names_verdict": Text("a listing names the verdict it is for",
                                         "列入失信黑名单须注明所依据的核查结论"),
    "intake.required_for_listing": Text("required for a listing", "列入失信黑名单时必填"),
    "intake.identity_request_not_found": Text("no identity-access request {request_id} in your jurisdiction",
                                              "您的辖区内没有身份信息查阅申请 {request_id}"),
    "intake.identity_request_decided": Text("the request is already {status}", "该申请已{status}"),
    "intake.identity_request_used": Text("the request was used: an approved request releases the identity once",
                                         "该申请已使用：经批准的申请只能查阅一次举报人身份信息"),
    "intake.verdict_not_recorded": Text("intake has not recorded verdict version {version} of this report yet",
                                        "受理服务尚未记录该举报第 {version} 版核查结论"),
    "intake.verdict_superseded": Text("verdict version {version} was superseded by version {recorded}",
                                      "第 {version} 版核查结论已被第 {recorded} 版取代"),
    "intake.verdict_mismatch": Text("the verdict named is not the one intake recorded for this report",
                                    "所注明的核查结论与受理服务就该举报记录的结论不一致"),
    "intake.verdict_not_malicious": Text("the report's final verdict is {verdict}, not malicious",
                                         "该举报的最终核查结论为“{verdict}”，并非诬告陷害"),
    "intake.verdict_not_approved": Text("a malicious verdict releases the reporter only once approved at {level} level",
                                        "诬告陷害的核查结论须经{level}审批后，方可提供举报人身份信息"),
    "intake.custodian_not_requester": Text(
        "an identity-access request is decided by a custodian other than the officer who filed it",
        "身份信息查阅申请须由申请人以外的保管人决定"),
    "intake.custodian_level": Text("a custodian at {level} level or higher decides identity-access requests",
                                   "身份信息查阅申请须由{level}及以上的保管人决定"),
    "intake.identity_request_required": Text(
        "an officer reads a reporter's identity only with an approved identity-access request for this report "
        "(request_id)",
        "工作人员须持针对该举报且经批准的身份信息查阅申请（request_id），方可查阅举报人身份信息"),
    "intake.not_the_requester": Text("only the officer who filed the request may use it",
                                     "该申请只能由提出申请的工作人员使用"),
    "intake.request_pending": Text("the request has not been decided by a custodian yet", "该申请尚未经保管人决定"),
    "intake.request_refused": Text("the request was refused", "该申请已被拒绝"),
    "intake.request_expired": Text("the request expired before it was used", "该申请在使用前已过期"),
    "intake.request_status": Text("the request is {status}", "该申请{status}"),
    # verification
    "verification.case_not_found": Text("no case {case_id} in your jurisdiction", "您的辖区内没有核查案件 {case_id}"),
    "verification.case_not_editable": Text("case is {status}; {why}", "该案件{status}；{why}"),
    "verification.edit_refused": Text(
        "findings and assessments can change only while it is open or investigating (a final verdict needs a "
        "correction first)",
        "核查认定和评估只能在案件待核查或核查中时修改（最终核查结论须先经更正程序）"),
    "verification.only_awaiting_approval": Text("only a malicious verdict awaiting approval can be decided",
                                                "只有待审批的诬告陷害核查结论才能作出审批决定"),
    "verification.only_final_corrected": Text("only a final verdict can be corrected", "只有最终核查结论才能更正"),
    "verification.findings_missing": Text("record a finding for {count} allegation(s) first",
                                          "请先对 {count} 项问题线索作出核查认定"),
    "verification.malice_incomplete": Text("record the kind and severity of malice before concluding",
                                           "作出核查结论前，请先记录恶意举报的类型和情节轻重"),
    "verification.unknown_allegations": Text("{count} finding(s) name allegations this case does not have",
                                             "有 {count} 项核查认定所指的问题线索不属于本案件"),
    "verification.not_an_allegation": Text("not an allegation of this case", "不是本案件的问题线索"),
    "verification.correction_not_found": Text("no correction {correction_id} in your jurisdiction",
                                              "您的辖区内没有更正申请 {correction_id}"),
    "verification.correction_pending": Text(
        "the correction {requested_by} requested on {requested_on:%Y-%m-%d} is waiting for its decision; "
        "decide it first",
        "{requested_by} 于 {requested_on:%Y-%m-%d} 提出的更正申请尚待审批，请先作出决定"),
    "verification.correction_decided": Text("the correction was {status} on {decided_on:%Y-%m-%d}",
                                            "该更正申请已于 {decided_on:%Y-%m-%d} {status}"),
    "verification.approver_recorded_on_case": Text(
        "an officer who recorded findings, an assessment or a conclusion on this case (or on a case it corrects) "
        "cannot approve its verdict: a second officer must",
        "在本案件（或其更正的案件）中记录过核查认定、评估或结论的工作人员不能审批其核查结论，须由另一名工作人员审批"),
    "verification.approver_level": Text("a malicious verdict needs an approver at {level} level or higher",
                                        "诬告陷害的核查结论须由{level}及以上的工作人员审批"),
    "verification.correction_by_another": Text(
        "a correction is approved by an officer other than the one who requested it",
        "更正申请须由申请人以外的工作人员审批"),
    "verification.correction_no_part": Text(
        "an officer who recorded on this case, concluded it or decided its verdict cannot approve its correction",
        "在本案件中记录过、作出过结论或审批过核查结论的工作人员不能审批其更正"),
    "verification.correction_level": Text("correcting this verdict needs an approver at {level} level or higher",
                                          "更正该核查结论须由{level}及以上的工作人员审批"),
    # clarification
    "clarification.not_found": Text("no clarification {clarification_id} in your jurisdiction",
                                    "您的辖区内没有澄清正名事项 {clarification_id}"),
    "clarification.no_final_verdict": Text("no final verdict for report {report_id} in your jurisdiction",
                                           "您的辖区内没有举报 {report_id} 的最终核查结论"),
    "clarification.meeting_not_found": Text("no meeting {meeting_id} in your jurisdiction",
                                            "您的辖区内没有澄清通报会 {meeting_id}"),
    "clarification.inconclusive": Text(
        "the report was found inconclusive (无法查实): neither confirmed nor refuted, so there is nothing to clarify; "
        "clarifications are opened by hand for the refuted allegations of a partly true report",
        "该举报经核查无法查实，既未证实也未否定，无需澄清正名；对部分属实的举报，可就其中失实的问题线索另行启动澄清正名"),
    "clarification.already_open": Text("this report already has a clarification", "该举报已有澄清正名事项"),
    "clarification.only_refuted": Text("only refuted allegations can be clarified", "只能对失实的问题线索进行澄清正名"),
    "clarification.not_refuted": Text("not a refuted allegation", "不是失实的问题线索"),
    "clarification.not_now": Text("cannot {doing}: the clarification is {status}",
                                  "不能{doing}：该澄清正名事项{status}"),
    "clarification.not_now_closed": Text("cannot {doing}: the clarification is {status} ({outcome})",
                                         "不能{doing}：该澄清正名事项{status}（{outcome}）"),
    "clarification.meeting_not_now": Text("a {status} meeting cannot be {doing}", "{status}的澄清通报会不能{doing}"),
    "clarification.field_problem": Text("{field}: {problem}", "{field}：{problem}"),
    "clarification.future_date": Text("{day} is in the future: today is {today} (China time)",
                                      "{day} 晚于今天：今天是 {today}（北京时间）"),
    "clarification.before_event": Text("{day} is before {event} on {event_day}",
                                       "{day} 早于{event}之日（{event_day}）"),
    "clarification.no_bulletin_planned": Text("the plan has no bulletin: choose it in the plan first",
                                              "澄清方式中没有通报：请先在方案中选定通报"),
    "clarification.bulletin_recorded": Text("the bulletin was already recorded (issued {issued_on})",
                                            "通报已登记（发布日期 {issued_on}）"),
    "clarification.meeting_not_held_yet": Text("the meeting starts at {starts_at}; record it after it was held",
                                               "该澄清通报会开始时间为 {starts_at}，请在会议召开后再登记"),
    "clarification.cannot_close": Text("the clarification cannot close yet: {blockers}",
                                       "该澄清正名事项尚不能办结：{blockers}"),
    "clarification.follow_up_after_completion": Text("a follow-up visit comes after a completed clarification",
                                                     "回访须在澄清正名办结后进行"),
    "clarification.typical_case_not_malicious": Text(
        "a typical false-accusation case is a final malicious verdict; this report's is {verdict}",
        "典型案例须为最终认定诬告陷害的案件；该举报的核查结论为“{verdict}”"),
    "clarification.typical_case_issued": Text("this case's bulletin was already issued", "该案件的典型案例通报已发布"),
    "clarification.conflicts": Text("{count} conflict(s): {conflicts}", "存在 {count} 处冲突：{conflicts}"),
    "clarification.venue_not_found": Text("no venue {venue_id} in your jurisdiction", "您的辖区内没有会场 {venue_id}"),
    "clarification.venue_not_registered": Text(
        "no venue {venue_id} in the register of your jurisdiction; register it with PUT /v1/venues/{venue_id}",
        "您辖区的会场登记中没有会场 {venue_id}；请通过 PUT /v1/venues/{venue_id} 登记"),
    "clarification.venue_retired": Text("venue {venue_id} ({name}) is retired and takes no new meetings",
                                        "会场 {venue_id}（{name}）已停用，不再安排新的会议"),
    "clarification.closes_after_opens": Text("must be after opens_at ({opens_at:%H:%M})",
                                             "须晚于开始时间（opens_at，{opens_at:%H:%M}）"),
    # the reasons a meeting cannot be held then (a 409's `conflicts`)
    "conflict.past": Text("the meeting would start in the past", "会议开始时间已过"),
    "conflict.non_working_day": Text("{day} is not a working day in China", "{day} 不是我国的工作日"),
    "conflict.outside_working_hours": Text(
        "meetings at venue {venue_id} run within {opens:%H:%M}-{closes:%H:%M} Asia/Shanghai on one working day",
        "会场 {venue_id} 的会议须在同一工作日北京时间 {opens:%H:%M}-{closes:%H:%M} 内举行"),
    "conflict.after_deadline": Text("the clarification deadline is {deadline}", "澄清正名的办理期限为 {deadline}"),
    "conflict.venue_booked": Text("venue {venue_id} is booked", "会场 {venue_id} 已被预订"),
    "conflict.official_booked": Text("the official has another meeting then", "被反映人在该时段另有会议"),
    # what still stands between a clarification and its close (a 409's `blockers`)
    "blocker.consent": Text("the official's consent is not recorded", "尚未记录被反映人本人意见"),
    "blocker.no_method": Text("no clarification method chosen", "尚未选定澄清方式"),
    "blocker.written": Text("the written clarification is not issued", "书面澄清尚未印发"),
    "blocker.meeting": Text("no clarification meeting has been held", "尚未召开澄清通报会"),
    "blocker.bulletin": Text("the bulletin is not recorded", "尚未登记通报"),
    # what an officer was doing when the clarification's state refused it
    "doing.record_consent": Text("record consent", "记录本人意见"),
    "doing.change_methods": Text("change the methods", "变更澄清方式"),
    "doing.schedule_meeting": Text("schedule a meeting (consent comes first)", "安排澄清通报会（须先征得本人同意）"),
    "doing.issue_written": Text("issue the written clarification", "印发书面澄清"),
    "doing.record_bulletin": Text("record a bulletin", "登记通报"),
    "doing.close": Text("close", "办结"),
    "doing.record_held": Text("recorded as held", "登记为已召开"),
    "doing.cancel": Text("cancelled", "取消"),
    "doing.reschedule": Text("rescheduled", "改期"),
    # the event a recorded day must not come before
    "event.clarification_opened": Text("the clarification was opened", "澄清正名启动"),
    "event.official_consented": Text("the official consented", "被反映人同意澄清"),
    "event.clarification_closed": Text("the clarification was closed", "澄清正名办结"),
    "event.verdict": Text("the verdict", "作出核查结论"),
    # credit blacklist
    "blacklist.entry_not_found": Text("no blacklist entry {entry_id} in your jurisdiction",
                                      "您的辖区内没有失信黑名单记录 {entry_id}"),
    "blacklist.objection_not_found": Text("no objection {objection_id} in your jurisdiction",
                                          "您的辖区内没有异议 {objection_id}"),
    "blacklist.removal_not_found": Text("no {kind} request {request_id} in your jurisdiction",
                                        "您的辖区内没有{kind}申请 {request_id}"),
    "blacklist.received_on_range": Text("received_on must lie between the notice and today",
                                        "收到日期（received_on）须在告知之日与今天之间"),
    "blacklist.between_notice_and_today": Text("between the notice date and today", "须在告知之日与今天之间"),
    "blacklist.objection_decided": Text("the objection was {decision} on {decided_on:%Y-%m-%d}",
                                        "该异议已于 {decided_on:%Y-%m-%d} 认定为{decision}"),
    "blacklist.nothing_under_review": Text("the entry is {status}; nothing is under review any more",
                                           "该记录{status}，已无待复核的异议"),
    "blacklist.removal_pending": Text(
        "the {kind} requested on {requested_on:%Y-%m-%d} is waiting for its decision; decide it first",
        "{requested_on:%Y-%m-%d} 提出的{kind}申请尚待决定，请先作出决定"),
    "blacklist.removal_decided": Text("the {kind} request was {status} on {decided_on:%Y-%m-%d}",
                                      "该{kind}申请已于 {decided_on:%Y-%m-%d} {status}"),
    "blacklist.objection_already_filed": Text(
        "an objection to this entry was already filed; one objection is heard per entry",
        "该记录已提出过异议；每条记录只受理一次异议"),
    "blacklist.objection_not_now": Text("the entry is {status}; objections are heard while it is notified or active",
                                        "该记录{status}；只有在告知期内或公示中才受理异议"),
    "blacklist.decide_objection_first": Text("the entry is under review; decide the objection first",
                                             "该记录正在异议复核中，请先对异议作出决定"),
    "blacklist.repair_not_listed": Text("the entry is {status}; only a listed entry can be repaired",
                                        "该记录{status}；只有列入名单的记录才能信用修复"),
    "blacklist.repair_after_minimum": Text(
        "credit repair is possible after the minimum period of {months} month(s), from {possible_from}",
        "须满最短公示期 {months} 个月后方可信用修复，即自 {possible_from} 起"),
    "blacklist.revoke_after_objection": Text(
        "the entry is under review; decide the objection first (upholding it revokes the entry)",
        "该记录正在异议复核中，请先对异议作出决定（异议成立即撤销该记录）"),
    "blacklist.revoke_not_listed": Text("the entry is {status}; only a notified or active entry can be revoked",
                                        "该记录{status}；只有处于告知期或公示中的记录才能撤销"),
    "blacklist.objection_by_another": Text("an objection is decided by an officer other than the one who recorded it",
                                           "异议须由登记人以外的工作人员决定"),
    "blacklist.repair_by_another": Text(
        "a credit repair is granted or refused by an officer other than the one who requested it",
        "信用修复申请须由申请人以外的工作人员决定是否准予"),
    "blacklist.revocation_by_another": Text(
        "a revocation is granted or refused by an officer other than the one who requested it",
        "撤销申请须由申请人以外的工作人员决定是否准予"),
}


# --- Pydantic's validation errors, by error type --------------------------------------------------------------
# `en` is Pydantic's own template (the English message answered as Pydantic writes it); `zh` uses a
# subset of its placeholders (`{expected}` is the allowed values, listed as Chinese lists them).

VALIDATION: dict[str, Text] = {
    "missing": Text("Field required", "必填项缺失"),
    "extra_forbidden": Text("Extra inputs are not permitted", "不接受未定义的字段"),
    "json_invalid": Text("Invalid JSON: {error}", "请求体不是有效的 JSON"),
    "json_type": Text("JSON input should be string, bytes or bytearray", "JSON 输入应为字符串或字节串"),
    "model_type": Text("Input should be a valid dictionary or instance of {class_name}", "应为 JSON 对象"),
    "model_attributes_type": Text("Input should be a valid dictionary or object to extract fields from",
                                  "应为 JSON 对象"),
    "dict_type": Text("Input should be a valid dictionary", "应为 JSON 对象"),
    "list_type": Text("Input should be a valid list", "应为列表"),
    "set_type": Text("Input should be a valid set", "应为集合"),
    "frozen_set_type": Text("Input should be a valid frozenset", "应为集合"),
    "too_short": Text("{field_type} should have at least {min_length} item{expected_plural} after validation, "
                      "not {actual_length}", "至少应有 {min_length} 项，实际为 {actual_length} 项"),
    "too_long": Text("{field_type} should have at most {max_length} item{expected_plural} after validation, "
                     "not {actual_length}", "至多 {max_length} 项，实际为 {actual_length} 项"),
    "string_type": Text("Input should be a valid string", "应为字符串"),
    "string_unicode": Text("Input should be a valid string, unable to parse raw data as a unicode string",
                           "应为字符串，无法按 Unicode 解析"),
    "string_too_short": Text("String should have at least {min_length} character{expected_plural}",
                             "至少应有 {min_length} 个字符"),
    "string_too_long": Text("String should have at most {max_length} character{expected_plural}",
                            "不得超过 {max_length} 个字符"),
    "string_pattern_mismatch": Text("String should match pattern '{pattern}'", "格式不符合要求（应符合 {pattern}）"),
    "enum": Text("Input should be {expected}", "应为下列值之一：{expected}"),
    "literal_error": Text("Input should be {expected}", "应为下列值之一：{expected}"),
    "bool_type": Text("Input should be a valid boolean", "应为布尔值（true 或 false）"),
    "bool_parsing": Text("Input should be a valid boolean, unable to interpret input", "应为布尔值（true 或 false）"),
    "int_type": Text("Input should be a valid integer", "应为整数"),
    "int_parsing": Text("Input should be a valid integer, unable to parse string as an integer",
                        "应为整数，无法将该字符串解析为整数"),
    "int_parsing_size": Text("Unable to parse input string as an integer, exceeded maximum size",
                             "整数位数过多，无法解析"),
    "int_from_float": Text("Input should be a valid integer, got a number with a fractional part",
                           "应为整数，不能带小数"),
    "float_type": Text("Input should be a valid number", "应为数值"),
    "float_parsing": Text("Input should be a valid number, unable to parse string as a number",
                          "应为数值，无法将该字符串解析为数值"),
    "finite_number": Text("Input should be a finite number", "应为有限的数值"),
    "greater_than": Text("Input should be greater than {gt}", "应大于 {gt}"),
    "greater_than_equal": Text("Input should be greater than or equal to {ge}", "应大于或等于 {ge}"),
    "less_than": Text("Input should be less than {lt}", "应小于 {lt}"),
    "less_than_equal": Text("Input should be less than or equal to {le}", "应小于或等于 {le}"),
    "multiple_of": Text("Input should be a multiple of {multiple_of}", "应为 {multiple_of} 的倍数"),
    "date_type": Text("Input should be a valid date", "应为有效日期"),
    "date_parsing": Text("Input should be a valid date in the format YYYY-MM-DD, {error}",
                         "应为 YYYY-MM-DD 格式的有效日期"),
    "date_from_datetime_parsing": Text("Input should be a valid date or datetime, {error}",
                                       "应为有效的日期（YYYY-MM-DD）"),
    "date_from_datetime_inexact": Text("Datetimes provided to dates should have zero time - e.g. be exact dates",
                                       "应为日期，不能带时刻"),
    "date_past": Text("Date should be in the past", "日期应早于今天"),
    "date_future": Text("Date should be in the future", "日期应晚于今天"),
    "time_type": Text("Input should be a valid time", "应为有效时刻"),
    "time_parsing": Text("Input should be in a valid time format, {error}", "应为有效的时刻格式（如 08:30）"),
    "datetime_type": Text("Input should be a valid datetime", "应为有效的日期时间"),
    "datetime_parsing": Text("Input should be a valid datetime, {error}",
                             "应为有效的日期时间（ISO 8601 格式，如 2027-01-15T09:00:00+08:00）"),
    "datetime_from_date_parsing": Text("Input should be a valid datetime or date, {error}",
                                       "应为有效的日期时间（ISO 8601 格式，如 2027-01-15T09:00:00+08:00）"),
    "datetime_object_invalid": Text("Invalid datetime object, got {error}", "日期时间无效"),
    "datetime_past": Text("Input should be in the past", "应为过去的时间"),
    "datetime_future": Text("Input should be in the future", "应为将来的时间"),
    "timezone_aware": Text("Input should have timezone info", "应带时区偏移（如 +08:00）"),
    "timezone_naive": Text("Input should not have timezone info", "不应带时区偏移"),
    "uuid_type": Text("UUID input should be a string, bytes or UUID object", "应为 UUID"),
    "uuid_parsing": Text("Input should be a valid UUID, {error}", "应为有效的 UUID"),
    "url_type": Text("URL input should be a string or URL", "应为网址"),
    "url_parsing": Text("Input should be a valid URL, {error}", "应为有效的网址"),
    "bytes_type": Text("Input should be a valid bytes", "应为字节串"),
    "value_error": Text("Value error, {error}", "取值无效：{error}"),
    "assertion_error": Text("Assertion failed, {error}", "校验未通过：{error}"),
}


# --- the office's term for each value of a vocabulary ------------------------------------------------------
# Used inside sentences (Term), and for the values in the API documents.

TERMS: dict[str, dict[str, str]] = {
    "org_level": {"township": "乡镇级", "county": "县级", "municipal": "市级", "provincial": "省级", "central": "中央"},
    "verdict": {"true": "属实", "untrue": "失实", "malicious": "诬告陷害", "inconclusive": "无法查实"},
    "case_status": {"open": "待核查", "investigating": "核查中", "awaiting_approval": "待审批",
                    "final": "已作出最终结论", "superseded": "已被更正取代"},
    "clarification_status": {"pending_consent": "待征求本人意见", "in_progress": "办理中", "closed": "已办结"},
    "clarification_outcome": {"completed": "已完成", "declined": "本人不同意澄清", "cancelled": "已撤销"},
    "meeting_status": {"scheduled": "已安排", "held": "已召开", "cancelled": "已取消"},
    "entry_status": {"notified": "处于告知期", "active": "正在公示", "under_review": "正在异议复核",
                     "revoked": "已撤销", "expired": "已期满", "repaired": "已信用修复"},
    "removal_kind": {"repair": "信用修复", "revocation": "撤销"},
    "objection_decision": {"upheld": "成立", "rejected": "不成立"},
    # a decision on a request: an identity-access request, a correction, a repair or a revocation
    "request_status": {"pending": "待决定", "approved": "获批准", "refused": "被拒绝", "released": "已使用",
                       "expired": "已过期", "granted": "获准", "rejected": "被驳回"},
    # why a token did not verify (PyJWT's exceptions): the Chinese for the library's English
    "token_fault": {
        "InvalidSignatureError": "签名验证未通过",
        "DecodeError": "令牌无法解析",
        "InvalidAudienceError": "令牌的受众（aud）不符",
        "InvalidIssuerError": "令牌的签发方（iss）不符",
        "ImmatureSignatureError": "令牌尚未生效",
        "ExpiredSignatureError": "令牌已过期",
        "MissingRequiredClaimError": "令牌缺少必需的声明",
        "InvalidAlgorithmError": "令牌使用了不允许的签名算法",
        "InvalidIssuedAtError": "令牌的签发时间（iat）无效",
        "InvalidKeyError": "签名密钥无效",
        "InvalidTokenError": "令牌无效",
        "InvalidJTIError": "令牌编号（jti）无效",
        "InvalidSubjectError": "令牌主体（sub）无效",
    },
}
