"""The Simplified Chinese words of the pages (GLOSSARY.md), written into the zh_CN catalogue.

Run after `pybabel extract` (see README, "Translations"): `python tools/zh_cn.py` fills
api/locales/zh_CN/LC_MESSAGES/messages.po from api/locales/messages.pot and this table, and
writes the English catalogue (source strings, empty translations). A msgid missing here is
left untranslated, which tests/test_catalogues.py reports.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ZH: dict[str, str] = {
    # pages, headings, navigation
    "Fleet": "电梯总览", "Alert queue": "告警队列", "Supervision": "监管统计",
    "Main": "主导航", "Language": "语言", "Sign in": "登录", "Sign out": "退出登录",
    "Live updates from the alert stream": "告警实时推送", "connecting…": "正在连接…",
    "● live": "● 实时", "○ reconnecting…": "○ 正在重新连接…",
    "Times are shown in %(zone)s.": "页面时间均为%(zone)s。",
    "Back to the fleet": "返回电梯总览",
    "Error": "出错了", "Sign-in needed": "需要登录", "Not allowed": "无权操作",
    "Not found": "未找到", "Conflict": "冲突", "Invalid request": "请求有误",
    # sign-in
    "Whistle shows each organization the elevators it answers for. Sign in with your "
    "organization's API token; your administrator gives it to you.":
        "Whistle 向每个单位展示其负责的电梯。请使用本单位的访问令牌登录，令牌由系统管理员发放。",
    "Organization token": "单位访问令牌",
    "Whistle shows each organization the elevators it answers for. Sign in with the login "
    "your organization's manager gave you.":
        "Whistle 向每个单位展示其负责的电梯。请使用本单位管理员为您开设的账号登录。",
    "no one responsible": "无人管理", "no maintenance organization": "无维保单位",
    "Login": "账号", "Password": "密码", "Sign in with an API token instead": "改用访问令牌登录",
    "Signing in keeps a session cookie that scripts cannot read; signing out ends the "
    "session on the server.":
        "登录后会保存一个脚本无法读取的会话 Cookie；退出登录即在服务器上结束会话。",
    "Wrong login or password.": "账号或密码错误。",
    "Too many failed sign-ins for this login; try again in a few minutes.":
        "该账号登录失败次数过多，请几分钟后再试。",
    "Enter your login and password, or an API token.": "请输入账号和密码，或访问令牌。",
    "Your sign-in is no longer valid; sign in again.": "您的登录已失效，请重新登录。",
    "The token is kept in a session cookie that scripts cannot read, and forgotten when you "
    "sign out.": "令牌保存在脚本无法读取的会话 Cookie 中，退出登录后即被清除。",
    "Your token is no longer valid; sign in again.": "访问令牌已失效，请重新登录。",
    "The form is too large.": "提交的内容过大。",
    "Enter your organization's API token.": "请输入本单位的访问令牌。",
    "This token is unknown or has been revoked.": "该访问令牌不存在或已被吊销。",
    # fleet
    "%(count)s elevator visible to %(org)s": "%(org)s 可查看 %(count)s 台电梯",
    "Elevators by status": "按状态统计电梯", "Filter the fleet": "筛选电梯",
    "District": "辖区", "Site": "小区", "Status": "状态", "all": "全部", "Filter": "筛选",
    "Clear": "清除筛选", "No elevator matches.": "没有符合条件的电梯。",
    "Elevators by district and site": "按辖区和小区统计电梯", "Search": "搜索",
    "Total": "合计", "id, name, registration or rescue code": "编号、名称、设备代码或救援识别码",
    "Tiles: %(shown)s of the %(matching)s elevators chosen.":
        "显示所选 %(matching)s 台电梯中的 %(shown)s 台。",
    "Tiles: %(shown)s of the %(matching)s elevators that are not normal; choose a district "
    "or a site to see every elevator there.":
        "显示 %(matching)s 台非正常电梯中的 %(shown)s 台；选择辖区或小区可查看该处全部电梯。",
    "Normal": "正常", "Warning": "提示", "Fault": "故障", "Offline": "离线",
    "Out of service": "停用", "Unknown": "未知",
    # severities, kinds, states, actions
    "critical": "紧急", "major": "严重", "minor": "一般", "warning": "提示",
    "trapped passenger": "困人", "door open while moving": "开门运行", "overspeed": "超速",
    "overrun": "冲顶 / 蹲底", "safety circuit open": "安全回路断开", "power loss": "停电",
    "leveling error": "平层异常", "door fault": "门系统故障", "motor overheat": "电机过热",
    "abnormal vibration": "运行振动异常", "alarm pressed": "轿厢紧急报警", "offline": "离线",
    "sealed but in use": "封停后运行", "inspection overdue": "定期检验超期",
    "maintenance overdue": "维保超期", "door closing slow": "关门迟缓",
    "open": "待报到", "acknowledged": "已报到", "resolved": "处置完成",
    "raised": "吹哨", "updated": "更新", "reported for duty": "报到",
    "arrived on site": "到场", "escalated": "升级", "notified": "已通知", "noted": "备注",
    # organizations and levels
    "admin": "系统管理员", "property company": "物业公司", "maintenance company": "维保单位",
    "supervision": "市场监督管理局", "residents' committee": "社区居委会",
    "street office": "街道办事处", "rescue organization": "应急救援机构",
    "property": "物业", "maintenance": "维保", "community and street": "社区和街道",
    # values of records and telemetry
    "pass": "合格", "conditional": "限期整改", "fail": "不合格",
    "closed": "已关闭", "opening": "正在开门", "closing": "正在关门",
    "normal": "正常", "inspection": "检修", "fire service": "消防",
    "out of service": "停用", "mains": "市电", "backup": "备用电源", "none": "断电",
    "online": "在线", "delivered": "已送达", "to be retried": "待重试", "given up": "已放弃",
    "pending": "待发送",
    # durations
    "s": "秒", "min": "分", "h": "小时", "d": "天",
    # queue and alert rows
    "Open and acknowledged alerts, most severe first, then longest waiting. An alert nobody "
    "reports for duty on climbs the chain: property, maintenance, community and street, "
    "supervision.":
        "待报到和已报到的告警，先按严重程度、再按等待时长排列。无人报到的告警会沿责任链逐级升级："
        "物业、维保、社区和街道、市场监管。",
    "Alerts waiting for someone to report for duty or resolve them": "等待报到或处置的告警",
    "Severity": "级别", "Alert": "告警", "Elevator": "电梯", "Waiting": "已等待",
    "State": "状态", "Escalation": "升级", "Responsible then": "当时责任单位",
    "Actions": "操作", "Nothing waiting. All clear.": "暂无待处理告警，一切正常。",
    "Recently resolved": "最近处置完成", "Opened": "发生时间", "Resolved": "处置完成",
    "By": "处理人", "Note": "处置说明", "None yet.": "暂无。",
    "Report for duty": "报到", "Arrived on site": "已到场", "What was done": "处置情况",
    "Resolve": "处置完成", "on site after %(d)s": "%(d)s 后到场", "on site due by": "应到场时间",
    "LATE": "超时", "by %(who)s": "%(who)s", "on site": "到场", "level %(n)s": "第 %(n)s 级",
    "called: %(names)s": "已通知：%(names)s",
    "level %(n)s (%(name)s)": "第 %(n)s 级（%(name)s）", "called %(names)s": "已通知 %(names)s",
    "webhook": "Webhook 推送", "by dispatch": "平台派发", "grouped": "合并发送",
    "by arriving on site": "到场即报到",
    "rescue late: nobody on site within the limit": "救援超时：规定时间内无人到场",
    # alert page
    "%(kind)s on %(elevator)s": "%(elevator)s：%(kind)s", "alert %(id)s": "告警 %(id)s",
    "on": "电梯", "now": "当前", "State:": "状态：", "Condition began": "异常开始",
    "%(age)s ago": "%(age)s前", "Raised by Whistle": "Whistle 吹哨时间",
    "Responsible when it happened": "发生时的责任单位", "Reported for duty": "报到",
    "nobody yet": "尚无人", "On site": "到场", "not yet": "尚未", "Rescue clock": "救援计时",
    "arrival due within %(limit)s, by": "须在 %(limit)s 内到场，截止", "arrived after %(d)s":
        "%(d)s 后到场", "Escalation:": "升级：", "called": "已通知", "not called yet": "尚未通知",
    "No organization is on record for this elevator's chain.":
        "这台电梯的责任链上没有登记任何单位。",
    "Details": "详情", "Audit trail": "处理记录", "When": "时间", "What": "事项", "Who": "操作人",
    "Organization": "单位",
    # elevator page
    "Registry": "登记信息", "Floors": "楼层", "%(low)s to %(high)s, travel %(travel)s":
        "%(low)s 层至 %(high)s 层，提升高度 %(travel)s", "Rated speed": "额定速度",
    "Rated load": "额定载重量", "Model": "型号", "Rescue code": "救援识别码",
    "Registration code": "设备代码", "Registered": "登记时间", "Next inspection": "下次检验日期",
    "no due date": "未设定", "Sealed": "封停", "yes": "是", "since": "自", "no": "否",
    "Responsible": "责任单位", "Nobody on record.": "没有登记任何单位。",
    "Property organizations over time": "历任物业公司", "From": "起", "Until": "止",
    "Recorded by": "登记人", "Current state": "当前状态", "Last message": "最后一条消息",
    "Connection": "连接", "Sample of": "数据时间", "Floor": "楼层", "Speed": "速度",
    "Door": "轿门", "lock open": "门锁断开", "Load": "载重", "occupied": "有人",
    "Motor temperature": "电机温度", "Mode / power": "运行模式 / 电源", "Fault code": "故障代码",
    "Alarm": "紧急报警", "pressed": "已按下", "Data": "数据", "none received yet": "尚未收到",
    "The last hours": "最近几小时", "Time range": "时间范围",
    "Loading the bucketed history…": "正在加载历史数据…",
    "Position (m) and speed (m/s)": "位置（m）与速度（m/s）", "Load (kg)": "载重（kg）",
    "Motor temperature (°C)": "电机温度（°C）",
    "Ride vibration (RMS, m/s²)": "运行振动（RMS，m/s²）",
    "Alerts": "告警", "responsible then: %(org)s": "当时责任单位：%(org)s",
    "No alerts on record.": "没有告警记录。", "Inspections": "定期检验", "Result": "检验结论",
    "Seal": "封停", "Next due": "下次检验", "Notes": "备注", "sealed": "封停",
    "unsealed": "解除封停", "None recorded.": "暂无记录。", "Record an inspection": "登记检验",
    "Unseal: back in service": "解除封停：恢复使用", "Seal: take out of service": "封停：停止使用",
    "Record without changing the seal": "仅登记，不改变封停状态", "Maintenance": "维护保养",
    "Record maintenance": "登记维保",
    # charts (script)
    "No data in this period.": "该时段没有数据。",
    "Per {bucket} bucket: averages and extremes of {samples} samples.":
        "每 {bucket} 一格：{samples} 个采样的平均值与极值。",
    "No telemetry in the last {hours} h.": "最近 {hours} 小时没有监测数据。",
    "Could not load the history: {error}": "无法加载历史数据：{error}",
    "position": "位置", "lowest": "最低", "highest": "最高", "speed (max)": "速度（最大）",
    "average": "平均", "max": "最大", "time": "时间", "Arrival on site recorded": "已登记到场",
    "request failed (HTTP {status})": "请求失败（HTTP {status}）",
    "{action}: {kind} on {elevator}": "{action}：{elevator} {kind}",
    # supervision
    ": ": "：",
    "Who answered for each alert and how fast, %(first)s to %(last)s (alerts whose condition "
    "began in these days, %(zone)s). Times run from when an organization was called to its "
    "own acknowledgement or arrival.":
        "%(first)s 至 %(last)s 期间（按异常开始时间统计，%(zone)s）各告警由谁负责、响应多快。"
        "时长从通知该单位起，计至其报到或到场。",
    "To": "至", "Show": "查询", "Download this report (CSV)": "下载本报表（CSV）",
    "Download alert history (CSV)": "下载告警记录（CSV）", "alert": "条告警",
    "median to report for duty": "报到用时中位数", "worst to report for duty": "报到最长用时",
    "median to arrive": "到场用时中位数",
    "rescues late (over %(n)s min)": "救援超时（超过 %(n)s 分钟）",
    "never reported for duty": "始终无人报到", "inspections overdue": "定期检验超期",
    "Response statistics per organization": "各单位响应统计", "Elevators": "电梯数",
    "Alerts received": "收到告警", "Trapped passengers": "困人救援", "Overdue now": "当前超期",
    "count": "次数", "median": "中位数", "worst": "最长", "rescues": "救援次数", "late": "超时",
    "inspections": "定期检验", "%(n)s never reported for duty": "%(n)s 条始终无人报到",
    "No organization answered for anything here in this period.": "该时段内没有单位承担任何告警。",
    "Generated": "生成于",
    "A rescue is late when nobody arrived on site within %(limit)s minutes of the alert, or "
    "the passenger was still trapped then with nobody on site. Maintenance is overdue after "
    "%(days)s days without a record.":
        "告警后 %(limit)s 分钟内无人到场，或届时乘客仍被困且无人在场，即为救援超时。"
        "超过 %(days)s 天没有维保记录即为维保超期。",
    # CSV columns and file names
    "organization id": "单位编号", "organization": "单位", "organization kind": "单位类型",
    "organization district": "单位辖区", "elevators": "电梯数", "alerts received": "收到告警数",
    "median to report for duty (s)": "报到用时中位数（秒）",
    "worst to report for duty (s)": "报到最长用时（秒）",
    "median to arrive (s)": "到场用时中位数（秒）",
    "worst to arrive (s)": "到场最长用时（秒）", "rescues late": "救援超时次数",
    "alert id": "告警编号", "elevator id": "电梯编号", "elevator": "电梯名称", "site": "小区",
    "district": "辖区", "alert kind": "告警类型", "severity": "级别", "state": "状态",
    "condition began": "异常开始时间", "responsible organization id": "责任单位编号",
    "responsible organization": "责任单位", "escalation level": "升级级别",
    "reported for duty at": "报到时间", "reported for duty by": "报到人",
    "organization that reported for duty": "报到单位", "arrived on site at": "到场时间",
    "arrived on site by": "到场人", "resolved at": "处置完成时间", "resolved by": "处置人",
    "time to report for duty (s)": "报到用时（秒）", "time to arrive (s)": "到场用时（秒）",
    "rescue late": "救援超时", "note": "处置说明", "all organizations": "全部单位",
    "whistle-response": "whistle-响应统计", "whistle-alerts": "whistle-告警记录",
    # the residents' pages (CONTRACT section 7): /r/{code} and the follow page
    "Report a problem": "报告电梯问题", "Your report": "您的报告",
    "Someone is trapped inside": "有人被困", "The elevator has stopped or does not come":
        "电梯停运", "Trouble with the doors": "门有问题", "Strange noise or shaking":
        "异响或抖动", "A complaint (for example, poor maintenance)": "投诉（如维保不到位）",
    "Another problem": "其他问题",
    "an outside cause (power cut, fire, weather)": "外部原因（停电、火灾、天气）",
    "misuse (doors blocked, vandalism, overload)": "人为原因（阻挡门、破坏、超载）",
    "the door system": "门系统", "the drive or control system": "驱动与控制系统",
    "a mechanical part": "机械部件", "an electrical part": "电气部件",
    "the quality of maintenance": "维保质量", "a false alarm": "误报", "another cause": "其他",
    "Received: the organizations responsible for this elevator have been told.":
        "已受理：已通知这台电梯的责任单位。",
    "Someone is on site working on it.": "处置人员已到场处理。",
    "The work is reported done.": "责任单位已报告处置完成。",
    "Finished (closed).": "已办结。",
    "Cancelled (a false alarm or a duplicate report).": "已撤销（误报或重复报告）。",
    "Reopened after the feedback: the responsible organizations have been told again.":
        "根据评价已重新办理：已再次通知责任单位。",
    "This elevator is in service.": "电梯正常运行。",
    "This elevator is out of service.": "电梯已停用。",
    "This elevator is out of service: the inspector has sealed it.":
        "电梯已被检验机构封停，停止使用。",
    "This elevator is being repaired: a problem with it is already being handled.":
        "电梯正在维修：已有问题正在处理中。",
    "Choose what is wrong.": "请选择问题类型。",
    "The description is too long (at most 1,000 characters).": "问题描述过长（最多 1000 字）。",
    "The contact is too long (at most 64 characters).": "联系方式过长（最多 64 个字符）。",
    "The comment is too long (at most 1,000 characters).": "评价说明过长（最多 1000 字）。",
    "Feedback can be given once the work is reported done.": "处置完成后才能评价。",
    "Too many reports for this elevator from here just now. Try again in %(minutes)s min; "
    "in an emergency, call 96333.":
        "该电梯的报告过于频繁，请 %(minutes)s 分钟后再试；紧急情况请拨打 96333。",
    "Unknown code": "无效的二维码", "Unknown report": "未找到该报告",
    "This code belongs to no elevator, or the sign has been replaced. In an emergency, call "
    "96333.": "此二维码不对应任何电梯，或标识已更换。紧急情况请拨打 96333。",
    "This link belongs to no report.": "此链接不对应任何报告。",
    "If someone is trapped: press the alarm button in the car, stay calm, do not force the "
    "doors, and call": "如有人被困：请按轿厢内的紧急报警按钮，保持冷静，不要扒门，并拨打",
    "Elevator emergency rescue": "电梯应急救援",
    "Police 110 · Fire 119 · Ambulance 120": "报警 110 · 火警 119 · 急救 120",
    "Rescue code of this elevator: <strong>%(code)s</strong> (give it when you call)":
        "本电梯救援识别码：<strong>%(code)s</strong>（拨打电话时请报出）",
    "What is wrong?": "遇到了什么问题？", "What happened? (optional)": "问题描述（选填）",
    "At most %(n)s characters.": "最多 %(n)s 字。",
    "Your phone number or name (optional)": "联系电话或称呼（选填）",
    "Only the organizations handling the report see it.": "仅处理此报告的单位可见。",
    "Send the report": "提交报告",
    "The organizations responsible for this elevator are told at once; the next page shows "
    "what they do.": "提交后会立即通知这台电梯的责任单位，下一页可查看处理进度。",
    "Reported at %(t)s: %(category)s": "%(t)s 报告：%(category)s",
    "reported for duty at %(t)s": "%(t)s 报到", "has not reported for duty yet": "尚未报到",
    "arrived on site at %(t)s": "%(t)s 到场",
    "Resolved at %(t)s; the cause: %(cause)s": "%(t)s 处置完成；原因：%(cause)s",
    "Also reported by %(num)s other person.": "另有 %(num)s 人也报告了此问题。",
    "Last change: %(t)s": "最近更新：%(t)s",
    "Is the problem solved?": "评价：问题是否已解决？", "Comment (optional)": "评价说明（选填）",
    "Solved": "已解决", "Not solved": "未解决",
    "Keep the address of this page to follow your report; it is the only key to it.":
        "请保存本页地址以便查看处理进度；这是查看此报告的唯一凭证。",
    # cases (CONTRACT section 6): the queue, the case page, the elevator and supervision
    "Cases": "工单", "Case": "工单", "case %(id)s": "工单 %(id)s", "Kind": "类型",
    "What people must do about each problem: overdue and active cases first. Each required "
    "party reports for duty, arrives on site, and resolves the case with its cause.":
        "每个问题需要谁来处理：超时和办理中的工单排在前面。每个责任单位须报到、到场，"
        "并在处置完成时写明原因。",
    "only where my organization is a party": "只看本单位参与的工单",
    "No case matches.": "没有符合条件的工单。",
    "Showing the first %(n)s cases; filter to see others.":
        "仅显示前 %(n)s 个工单，请用筛选查看其他工单。",
    "opened %(age)s ago": "%(age)s前吹哨",
    "also reported by %(count)s person": "另有 %(count)s 人报告",
    "rescue": "困人救援", "fault": "故障", "hazard": "隐患", "complaint": "投诉",
    "responsibility gap": "管理责任空缺",
    "awaiting arrival": "待到场", "concluded": "办结", "cancelled": "已撤销",
    "overdue": "超时", "reopened": "重新办理", "Reopened": "重新办理次数",
    "external (power cut, fire, weather)": "外部原因（停电、火灾、天气）",
    "door system": "门系统", "drive or control": "驱动与控制系统",
    "mechanical parts": "机械部件", "electrical parts": "电气部件",
    "maintenance quality": "维保质量", "false alarm": "误报", "other cause": "其他",
    "someone trapped": "有人被困", "elevator stopped": "电梯停运", "door problem": "门有问题",
    "noise or shaking": "异响或抖动", "other problem": "其他问题",
    "an alert": "告警", "a resident's report": "居民报告", "an organization": "单位",
    "an inspection": "检验", "end of service": "退出服务",
    "case opened": "创建工单", "alert gathered": "并入告警", "report received": "收到居民报告",
    "rescue recorded": "救援完成", "reporter's feedback": "居民评价",
    "report for duty by": "报到期限", "arrive by": "到场期限", "resolve by": "处置期限",
    "on duty": "已报到", "on duty, late": "已报到（超时）", "late, not on duty": "超时未报到",
    "%(d)s left": "剩余 %(d)s", "passed %(d)s ago": "已超过 %(d)s",
    "{d} left": "剩余 {d}", "passed {d} ago": "已超过 {d}", "met at": "完成于",
    "Recorded on case {id}": "已记入工单 {id}",
    "Trapped": "被困人数", "Injured": "受伤人数", "Record the rescue": "记录救援结果",
    "Cause": "原因", "choose…": "请选择…", "Add a note": "添加备注",
    "Conclude the case": "办结工单", "Cancel the case": "撤销工单",
    "Reason (a false alarm, a duplicate)": "撤销原因（误报、重复）",
    "The case": "工单信息", "Description": "描述", "Residents' reports": "居民报告",
    "Contact": "联系方式", "Trapped / injured": "被困 / 受伤", "rescued at": "救出时间",
    "Hazards": "隐患", "rectify by %(day)s": "整改期限 %(day)s", "Deadlines": "办理期限",
    "The elevator now": "电梯当前状态",
    "A case about the whole site, or an elevator you do not see.":
        "该工单针对整个小区，或涉及您无权查看的电梯。",
    "Who must report for duty": "须报到的单位", "Called": "通知时间", "required": "责任单位",
    "Timeline": "时间线", "Telemetry around the case": "工单前后的运行数据",
    "from %(source)s": "来源：%(source)s", "report no. %(n)s": "第 %(n)s 份报告",
    "not on duty in time: %(names)s": "未按时报到：%(names)s",
    "%(trapped)s trapped, %(injured)s injured": "被困 %(trapped)s 人，受伤 %(injured)s 人",
    "missed: %(deadline)s": "错过：%(deadline)s",
    "the reporter confirmed it is solved": "报告人确认已解决",
    "the reporter says it is not solved": "报告人评价未解决",
    "recorded as a re-inspection": "记为复检",
    "No cases on record.": "没有工单记录。",
    "Printable sign with the report QR code": "打印带报告二维码的标识",
    "Reporting for duty on cases": "工单报到情况",
    "Cases opened %(first)s to %(last)s: for each organization, the cases where it had to "
    "report for duty, whether it did so in time, and how long it took from the case opening.":
        "%(first)s 至 %(last)s 期间创建的工单：各单位须报到的工单数、是否按时报到，"
        "以及自工单创建起的用时。",
    "Download the duty report (CSV)": "下载报到统计（CSV）",
    "Cases where required": "须报到的工单", "To report for duty": "报到用时",
    "To arrive": "到场用时", "To resolve": "处置用时",
    "Rescues reached within 30 min": "30 分钟内到场的救援", "in time": "按时", "never": "未报到",
    "not yet due": "未到期限", "No case was opened here in this period.": "该时段内没有创建工单。",
    # duty report CSV columns and file name
    "cases where required": "须报到工单数", "reported for duty in time": "按时报到数",
    "reported for duty late": "超时报到数", "cases reported for duty on": "已报到工单数",
    "median to resolve (s)": "处置用时中位数（秒）", "worst to resolve (s)": "处置最长用时（秒）",
    "rescues arrived within 30 min": "30 分钟内到场的救援数", "cases reopened": "重新办理工单数",
    "whistle-duty": "whistle-报到统计",
    # the organizations pages: people, tokens, end of service; handover on the elevator page
    "Organizations": "单位管理", "People": "人员", "Tokens": "访问令牌", "Service": "服务状态",
    "The organizations you may see: their people and tokens, and whether their service ended.":
        "您可查看的单位：其人员、访问令牌，以及是否已终止服务。",
    "No organization.": "没有单位。", "ended": "已终止服务", "ends": "将终止服务",
    "in service": "服务中", "Service ended": "已终止服务", "Service ends": "将终止服务",
    "Name": "姓名", "Phone": "电话", "Manager": "管理员", "manager": "管理员",
    "Remove": "移除", "Nobody yet.": "暂无人员。", "Add a person": "添加人员",
    "Add the person": "添加", "Person added": "已添加人员", "Person removed": "已移除人员",
    "Remove %(name)s? Their sessions and tokens stop working at once.":
        "确定移除 %(name)s？其会话和访问令牌将立即失效。",
    "manager (manages people and tokens)": "管理员（管理本单位人员和访问令牌）",
    "Label": "名称", "Person": "人员", "Created": "创建时间", "Last used": "最近使用",
    "Expires": "到期时间", "Revoked": "已吊销", "revoked": "已吊销", "Revoke": "吊销",
    "No token yet.": "暂无访问令牌。", "removed person %(id)s": "已移除的人员 %(id)s",
    "Revoke this token? It stops working at once.": "确定吊销此访问令牌？它将立即失效。",
    "Token revoked": "已吊销访问令牌", "Token created": "已创建访问令牌",
    "Create a token": "创建访问令牌", "Create the token": "创建",
    "none (the organization's own)": "无（本单位令牌）",
    "Expires (your device's time)": "到期时间（按本设备时间）",
    "The new token, shown only this once: copy it now.": "新访问令牌仅显示这一次，请立即复制。",
    "End of service": "终止服务", "End the service": "终止服务",
    "End of service recorded": "已登记终止服务",
    "End the service of %(name)s? This cannot be undone.":
        "确定终止 %(name)s 的服务？此操作无法撤销。",
    "From the time given, the organization's tokens and sessions stop working, it no longer "
    "answers for its elevators, and every site and elevator it leaves without one gets a "
    "responsibility gap case.":
        "自所填时间起，该单位的访问令牌和会话全部失效，不再对其电梯负责；因此无人负责的每个小区"
        "和每台电梯都会生成一张责任空缺工单。",
    "Reason": "原因",
    "Effective (your device's time; empty: now)":
        "生效时间（按本设备时间；留空为立即）",
    "I confirm the end of service of this organization": "我确认终止该单位的服务",
    "Maintenance organizations over time": "历任维保单位", "no organization": "无",
    "Hand over to a property organization": "移交给物业公司", "Hand over": "移交",
    "Property organization": "物业公司", "Handover recorded": "已登记移交",
    "Hand this elevator over to the chosen property organization?":
        "确定将这台电梯移交给所选物业公司？",
    "Change the maintenance organization": "更换维保单位", "Change": "更换",
    "Maintenance organization": "维保单位", "Maintenance organization changed": "已更换维保单位",
    "Give this elevator to the chosen maintenance organization?":
        "确定将这台电梯交给所选维保单位？",
    'Add a shift': '添加班次',
    'Add an override': '添加临时调整',
    'Add the override': '添加临时调整',
    'Add the shift': '添加班次',
    'Address': '地址',
    'An end at or before the start runs over midnight into the next day.':
        '结束时间早于或等于开始时间的班次跨过午夜，到次日结束。',
    'Channel': '通知渠道',
    'Day': '星期',
    'DingTalk robot': '钉钉群机器人',
    'Duty': '值班',
    'Duty roster': '值班表',
    'Duty roster and channels': '值班表与通知渠道',
    'Feishu robot': '飞书群机器人',
    'For': '对象',
    'Friday': '星期五',
    "From (your device's time)": '开始（本设备时间）',
    'Holidays and swaps: while an override lasts, its person is on duty instead of '
    'the weekly shifts, or off duty.':
        '节假日与换班：临时调整期间，该人员代替每周班次值班，或不值班。',
    'How people are reached': '如何通知到人',
    "In a channel's quiet hours only rescues and critical cases use it; the rest go to "
    'the next channel.':
        '在渠道的免打扰时段内，只有救援和紧急案件经该渠道发送，其余转到下一个渠道。',
    'Quiet hours': '免打扰时段',
    'Monday': '星期一',
    'No channel yet: set them with PUT /api/v1/orgs/%(id)s/channels.':
        '尚未设置通知渠道：请用 PUT /api/v1/orgs/%(id)s/channels 设置。',
    'No override.': '没有临时调整。',
    'No shift yet.': '尚无班次。',
    'Nobody has been notified through a roster or channel yet.':
        '尚未通过值班表或通知渠道通知任何人。',
    'On duty now': '当前值班',
    'Override added': '已添加临时调整',
    'Override removed': '已删除临时调整',
    'Overrides': '临时调整',
    'People notified': '已通知人员',
    'SMS': '短信',
    'Saturday': '星期六',
    'Shift added': '已添加班次',
    'Shift removed': '已删除班次',
    'Sunday': '星期日',
    'The people on duty through their own channels, in this order; with nobody on '
    "duty, the organization's default channels. A channel that fails passes the "
    'message to the next.':
        '按顺序通过值班人员本人的渠道通知；无人值班时，使用单位的默认渠道。某一渠道失败时，消息转由下一个渠道发送。',
    'Thursday': '星期四',
    'Time zone': '时区',
    'Tuesday': '星期二',
    "Until (your device's time)": '结束（本设备时间）',
    'WeCom robot': '企业微信群机器人',
    'Wednesday': '星期三',
    'Weekly shifts': '每周班次',
    'Why': '原因',
    'attempt %(n)s': '第 %(n)s 次尝试',
    'by an override': '（临时调整）',
    'by the weekly shifts': '（每周班次）',
    'e-mail': '电子邮件',
    'failed': '失败',
    'failing': '持续失败',
    'held by silence %(id)s': '被静默 %(id)s 暂缓',
    'next day': '次日',
    'nobody to reach': '无人可通知',
    "nobody: the organization's default channels are used": '无人值班：使用单位的默认渠道',
    'not on duty yet: %(names)s': '尚未报到：%(names)s',
    'off duty': '不值班',
    'on duty instead': '代班值班',
    'reminded': '已提醒',
    'retrying': '重试中',
    'sending': '发送中',
    'silence over': '静默结束',
    'skipped': '已跳过',
    'the organization (default)': '单位（默认）',
    'waiting': '等待发送',
    'Channels to people': '通知渠道', '%(n)s failing': '%(n)s 个持续失败',
    'roster': '值班表',
}

ROOT = Path(__file__).resolve().parent.parent / "api" / "locales"


def main() -> None:
    """Write both catalogues from the template."""
    with (ROOT / "messages.pot").open("rb") as f:
        template = read_po(f)
    for locale, table in (("zh_CN", ZH), ("en", {})):
        cat = Catalog(locale=locale, domain="messages", project="Whistle",
                      charset="utf-8")
        for m in template:
            if not m.id:
                continue
            key = m.id[0] if isinstance(m.id, tuple) else m.id
            text = table.get(key, "")
            cat.add(m.id, (text,) * cat.num_plurals if isinstance(m.id, tuple) else text)
        out = ROOT / locale / "LC_MESSAGES" / "messages.po"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as f:
            write_po(f, cat, width=100, omit_header=False, sort_output=True)
        missing = [m.id for m in cat if m.id and not m.string] if table else []
        print(f"{out}: {len(cat)} messages, {len(missing)} untranslated {missing[:20]}")


if __name__ == "__main__":
    main()
