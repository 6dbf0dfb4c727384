"""The built-in prompt-injection rules, English and Chinese, with their weights.

Each rule is a regular expression over normalized text (`gateway.safety.normalize`: lower
case, invisible characters removed, full-width letters folded) with a weight in (0, 1] and
a reason code. A text's score is the noisy-OR of the weights of the distinct rules that match
it (1 − Π(1 − w)), so one strong signal (a ChatML tag, "ignore all previous instructions")
is enough on its own, while weak signals ("from now on", "verbatim") only count together.

Cost: every rule has *anchors* — words (found through the text's word list, one pass) or
marks (substrings: Chinese, symbols) — and runs only where they occur: a *lead* rule is
matched at each anchor, any other searched in a window around it; `requires` skips a rule
whose other concept does not occur in the text at all. An ordinary prompt runs few rules.

Weights were set by hand from the shape of known attacks (instruction overrides, DAN-style
personas, system-prompt extraction, chat-template tags) and tuned only on the `dev` split of
`tests/gateway/safety/eval_set.jsonl`; the README reports every split, the never-tuned
`holdout` included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OVERRIDE = "instruction_override"
ROLE_PLAY = "role_play_jailbreak"
EXTRACTION = "system_prompt_extraction"
ROLE_TAG = "fake_role_tag"
OBFUSCATION = "obfuscation"


@dataclass(frozen=True, slots=True)
class Rule:
    reason: str
    weight: float
    pattern: re.Pattern[str]
    words: frozenset[str] = frozenset()
    """ASCII anchor words: the rule is tried only where one occurs as a word."""
    marks: tuple[str, ...] = ()
    """Anchor substrings (Chinese, symbols), tried wherever they occur."""
    lead: bool = False
    """Every match starts at an anchor: the pattern is matched at each anchor, not searched."""
    requires: frozenset[str] = frozenset()
    """Words of which one must occur in the text for the rule to be tried at all: the other
    concept of a rule whose anchors are common words."""
    before: int = 120
    after: int = 120
    """Otherwise: characters searched before and after each anchor."""


def rule(
    reason: str,
    weight: float,
    pattern: str,
    anchors: str = "",
    *,
    lead: bool = False,
    before: int = 120,
    after: int = 120,
    requires: str = "",
) -> Rule:
    """`anchors`: space-separated; plain ASCII words become words (split at apostrophes, as
    the word set is), anything else marks. Anchors should be rare words: a common one costs a
    try at every occurrence."""
    words = frozenset(
        part
        for anchor in anchors.split()
        if anchor.isascii() and anchor.replace("'", "").isalnum()
        for part in anchor.split("'")
        if len(part) > 1
    )
    marks = tuple(a for a in anchors.split() if not (a.isascii() and a.replace("'", "").isalnum()))
    needed = frozenset(requires.split())
    return Rule(reason, weight, re.compile(pattern), words, marks, lead, needed, before, after)


# Shared vocabulary (regex fragments).
_DISMISS = (
    r"(?:ignor|disregard|forget|forgot|neglect|skip|bypass|overrid|abandon|discard"
    r"|set\s+aside|throw\s+out|scrap)\w*"
)
_DISMISS_WORDS = (
    "ignore ignoring ignored disregard disregarding forget forgetting neglect skip bypass "
    "override overriding abandon discard aside scrap"
)
_POSS = r"(?:your|ur|yr)"
_GIVEN = (
    r"(?:(?:that\s+)?(?:you|u)(?:'ve|'re|\s+have|\s+were|\s+was|\s+got|\s+are)?\s+(?:been\s+)?"
    r"(?:given|told|taught|instructed|programmed|provided|assigned|configured|trained|received"
    r"|fed)|(?:they|someone|the\s+\w+)\s+(?:gave|told|taught|fed)\s+(?:you|u))"
)
_POSITION = (
    r"(?:previous|previously|prior|above|earlier|preceding|former|original|initial"
    r"|foregoing|aforementioned|system|developer|default|existing|safety|content|security"
    r"|ethical|moral|usual|built-in|operator)"
)
_OBJECT = (
    r"(?:instructions?|prompts?|directions?|directives?|rules|guidelines|commands?|constraints?"
    r"|polic(?:y|ies)|programming|guardrails?|restrictions?|orders|context|training"
    r"|limitations?|safeguards?|settings|messages?|conditions|requirements|text|tasks?)"
)
_OBJECT_WORDS = (
    "instruction instructions prompt prompts directions directive directives rules guidelines "
    "constraints policy policies programming guardrails restrictions"
)
_LATER_POSITION = (
    r"(?:above|earlier|before|previously|initially|originally|at\s+the\s+(?:start|beginning))"
)
_QUALIFIED_OBJECT = (
    rf"(?:(?:{_POSS}|the\s+{_POSITION}|{_POSITION}|all(?:\s+(?:the|your|of\s+your))?)\s+"
    rf"(?:[\w-]+\s+)?{_OBJECT}"
    rf"|(?:the|any|whatever|all|those|these)\s+{_OBJECT}\s+(?:(?:[\w'-]+\s+){{0,4}}?"
    rf"{_LATER_POSITION}|{_GIVEN}))"
)
_MODEL_OBJECT = (
    r"(?:instructions?|prompts?|directives?|programming|guardrails?|training|system\s+messages?"
    r"|commands?|orders|safeguards?|settings)"
)
_VOID_OBJECT = (
    rf"(?:{_POSS}\s+(?:[\w-]+\s+)?{_OBJECT}"
    rf"|(?:the\s+{_POSITION}|{_POSITION}|all(?:\s+(?:the|of\s+the))?)\s+(?:[\w-]+\s+)?"
    rf"{_MODEL_OBJECT}"
    rf"|(?:the|any|whatever|all|those|these)\s+{_MODEL_OBJECT}\s+(?:[\w'-]+\s+){{0,4}}?"
    rf"{_LATER_POSITION}"
    rf"|(?:the|any|whatever|all|those|these)\s+{_OBJECT}\s+(?:{_GIVEN}|(?:that\s+)?(?:you|u)"
    r"\s+had))"
)
_VOID = (
    r"(?:(?:are|is|were|was|have\s+been|has\s+been)\s+(?:now\s+)?(?:void|null|revoked"
    r"|cancel+ed|invalid|obsolete|outdated|superseded|suspended|lifted|disabled|deprecated"
    r"|(?:just\s+|only\s+)?a\s+test|fake|no\s+longer\s+(?:valid|active|in\s+effect|applicable))"
    r"|no\s+longer\s+appl(?:y|ies)|(?:do|does)\s*(?:n't|\s+not)\s+apply\s+any\s*more)"
)
_AI = r"(?:ai|assistant|chatbot|bot|llm|language\s+model|model|agent|gpt|copilot)s?"
_PERSONA = (
    r"(?:dan|stan|dude|aim|evil\w*|jailbroken|unfiltered|uncensored|unrestricted|unlimited"
    r"|amoral|unethical|immoral|rogue|malicious|lawless|unchained|unbound)"
)
_PERSONA_WORDS = (
    "dan stan dude aim evil evilbot jailbroken unfiltered uncensored unrestricted unlimited "
    "amoral unethical immoral rogue malicious lawless unchained unbound"
)
_LIMITS = (
    r"(?:restrictions?|limits|limitations|filters?|filtering|censorship|guidelines|rules|ethics"
    r"|morals|morality|constraints|boundaries|polic(?:y|ies)|confines|safeguards|guardrails"
    r"|moderation|alignment|safety(?:\s+(?:layer|rules|measures|features|settings|checks))?)"
)
_LIMIT_WORDS = (
    "restriction restrictions limits limitations filter filters filtering censorship "
    "guidelines rules ethics morals morality constraints boundaries policy policies confines "
    "safeguards guardrails moderation alignment safety"
)
_SECRET_PROMPT = (
    r"(?:system\s+(?:prompt|message|instructions?)|pre-?prompt|prompt\s+configuration"
    r"|(?:full|entire|complete|exact|original|initial|first|hidden|secret|confidential|internal"
    r"|developer|starting|real|raw)\s+(?:[\w-]+\s+)?(?:prompt|instructions?|message|rules"
    r"|directives|guidelines|configuration))"
)
_REVEAL = (
    r"(?:reveal|show|print|display|output|repeat|tell|give|share|paste|dump|leak|expose|list"
    r"|write|spell|recite|disclose|provide|return|copy|echo|send|read|type|reproduce)\w*"
)
_REVEAL_WORDS = (
    "reveal show print display output repeat tell give share paste dump leak expose list "
    "write spell recite disclose provide return copy echo send read type reproduce"
)
# Chinese vocabulary. `_ZH_ANY` stops at the end of a sentence but not at a comma or "？".
_ZH_ANY = r"[^。\n]"
_ZH_DISMISS = (
    r"(?:忽略|忽视|无视|不要理会|不用理会|别理会|无需理会|不要管|别管|不用管|不必管|忘掉|忘记|忘了"
    r"|抛开|抛弃|跳过|丢掉|不顾|不用在意|不必在意|别在意|不要在意)"
)
_ZH_POSITION = (
    r"(?:之前|以前|先前|此前|上面|上述|以上|前面|原来|原有|原先|原本|原始|最初|一开始|刚开始|系统"
    r"|所有|全部|一切|任何|你的|您的|被设定的|被赋予的|被告知的|收到的|默认的?|安全)"
)
_ZH_OBJECT = r"(?:指令|指示|命令|规则|要求|设定|提示|限制|约束|规定|说明|准则|政策|策略|设置|身份)"
_ZH_SECRET = (
    r"(?:系统提示|系统指令|系统消息|系统设定|系统信息|初始指令|初始提示|最初的?指令|原始指令"
    r"|原始提示|隐藏的?指令|隐藏的?提示|秘密指令|预设指令|开发者指令|(?:你|您)的提示词"
    r"|(?:第一条|最初|最开始|最早)的?(?:消息|指令|内容|提示))"
)

PHRASE_RULES: tuple[Rule, ...] = (
    # --- instruction overrides -----------------------------------------------------------
    rule(
        OVERRIDE,
        0.8,
        rf"{_DISMISS}\s+(?:[\w'-]+\s+){{0,4}}?{_POSITION}\s+(?:[\w'-]+\s+){{0,3}}?{_OBJECT}\b",
        _DISMISS_WORDS,
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.55,
        rf"{_DISMISS}\s+(?:all|your|any|every)\s+(?:of\s+your\s+|the\s+)?(?:[\w-]+\s+)?"
        rf"{_OBJECT}\b",
        _DISMISS_WORDS,
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.7,
        rf"{_DISMISS}\s+(?:everything|all|anything)\s+(?:that\s+)?"
        r"(?:you(?:'ve|\s+have|\s+were|\s+was|\s+got)?\s+)?(?:been\s+)?"
        r"(?:told|taught|instructed|given|said|programmed)",
        _DISMISS_WORDS,
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.45,
        rf"{_DISMISS}\s+(?:[\w'-]+\s+){{0,5}}?(?:and|,)\s*(?:instead|rather)\b",
        _DISMISS_WORDS,
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.6,
        rf"{_DISMISS}\s+(?:whatever|what|anything|everything|all)\s+(?:[\w'-]+\s+){{0,3}}?"
        r"(?:operators?|developers?|admin\w*|creators?|openai|anthropic|system|they|you\s+were"
        r"|you've\s+been|u\s+were)\b",
        _DISMISS_WORDS,
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.5,
        r"(?:not|instead\s+of|rather\s+than)\s+(?:what|whatever)\s+(?:your|ur|the)\s+"
        r"(?:developers?|creators?|makers?|operators?|admins?|owners?|system|programming|rules"
        r"|instructions|training)\s+(?:told|tell|tells|say|says|said|instruct\w*)",
        "not instead rather",
        requires="developers developer creators makers operators admins owners programming "
        "training instructions",
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.5,
        r"(?:conversation|chat|everything|all\s+of\s+this)\s+(?:so\s+far|until\s+now|above"
        r"|before\s+this)\s+(?:was|were|is|has\s+been)\s+(?:just\s+|only\s+|merely\s+)?"
        r"(?:a\s+)?(?:simulation|test|drill|game|joke|fake|pretend|rehearsal)",
        "conversation chat everything",
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.25,
        r"(?:this\s+is|it's|it\s+is|we're\s+in|we\s+are\s+in)\s+(?:just\s+|only\s+|merely\s+)?"
        r"(?:a\s+)?(?:test|testing|sandbox|dev|debug)\s*(?:environment|env|session|run"
        r"|scenario)?\b",
        "test testing sandbox debug",
        before=40,
        after=30,
    ),
    rule(
        OVERRIDE,
        0.7,
        rf"{_VOID_OBJECT}\b[^.\n]{{0,40}}?\b{_VOID}",
        "void null revoked cancelled canceled invalid obsolete outdated superseded suspended "
        "lifted disabled deprecated fake test longer anymore",
        before=110,
        after=30,
    ),
    rule(
        OVERRIDE,
        0.75,
        rf"{_DISMISS}\s+(?:[\w'-]+\s+){{0,2}}?{_QUALIFIED_OBJECT}\b",
        _DISMISS_WORDS,
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.7,
        r"(?:void|revoke|cancel|invalidate|nullify|supersede|lift|drop)\w*\s+(?:all\s+)?"
        rf"(?:your|the|{_POSITION})\s+(?:[\w-]+\s+)?{_OBJECT}",
        "void revoke revoked cancel invalidate nullify supersede lift drop",
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.7,
        r"(?:do\s+not|don't|stop|no\s+longer|never|quit|cease|refuse\s+to)\s+(?:\w+\s+)?"
        r"(?:follow|obey|listen|adher|comply|abid|respect|heed)\w*\s+(?:to\s+|with\s+|by\s+)?"
        r"(?:[\w'-]+\s+){0,4}?(?:your|system|previous|prior|original|safety|content|ethical)\s+"
        r"(?:[\w-]+\s+)?(?:prompt|instructions?|rules|guidelines|programming|polic(?:y|ies)"
        r"|restrictions|directives|guardrails|training|filters?)",
        "follow following obey obeying adhere adhering comply abide respect heed",
        requires="prompt instructions instruction rules guidelines programming policy policies "
        "restrictions directives guardrails training filters filter",
        before=60,
        after=140,
    ),
    rule(
        OVERRIDE,
        0.45,
        r"(?:new|updated|real|actual|true|revised|additional|secret|hidden|override)\s+"
        r"(?:instructions?|directives?|rules|task|orders|system\s+prompt|policy)"
        r"\s*(?::|-|—|–|are\b|is\b|from\b|follow\b|override|replace|supersede|take\s+precedence)",
        "instruction instructions directive directives rules orders",
        before=30,
        after=30,
    ),
    rule(
        OVERRIDE,
        0.45,
        r"(?:developers?|admin|administrator|creators?|openai|anthropic|owner|operator|sysadmin"
        r"|team)\b[^.\n]{0,30}?\b(?:authori[sz]\w*|grant\w*|permit\w*|allow\w*|unlock\w*"
        r"|enabl\w*|lifted)\s+(?:you|your|this\s+session|this\s+chat|the\s+assistant)",
        "developer developers admin administrator creator creators openai anthropic owner "
        "operator sysadmin",
        before=20,
        after=60,
    ),
    rule(
        OVERRIDE,
        0.35,
        r"(?:i\s+am|i'm|this\s+is)\s+(?:your|ur|the|an?)\s+(?:[\w-]+\s+)?(?:developer|creator"
        r"|admin|administrator|owner|operator|programmer|maker|engineer)s?\b",
        "developer creator admin administrator owner operator programmer maker engineer",
        before=50,
        after=5,
    ),
    rule(
        OVERRIDE,
        0.35,
        r"(?:authori[sz]ed|approved|sanctioned|permitted|allowed|cleared|signed\s+off)\s+by\s+"
        r"(?:the\s+|your\s+|my\s+|our\s+)?(?:[\w-]+\s+)?(?:platform|developers?|admins?"
        r"|administrators?|owners?|openai|anthropic|management|company|team|operators?"
        r"|creators?)",
        "authorized authorised approved sanctioned permitted allowed cleared signed",
        requires="platform developers developer admins admin administrators owners openai "
        "anthropic management company team operators creators",
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.55,
        r"(?:administrator|admin|system|developer|security|root|sudo|god|maintenance)\s+"
        r"(?:override|mode\s+override|access\s+granted|command:)",
        "override granted command",
        before=30,
        after=20,
    ),
    rule(
        OVERRIDE,
        0.45,
        rf"{_AI}\s+(?:reading|processing|parsing|summari[sz]ing|screening|reviewing|analy[sz]ing"
        r"|that\s+reads|who\s+reads)\s+(?:this|these)",
        "reading processing parsing summarizing summarising screening reviewing analyzing "
        "analysing reads",
        before=40,
        after=20,
    ),
    rule(
        OVERRIDE,
        0.45,
        r"note\s+to\s+(?:the\s+|any\s+|all\s+)?(?:ai|assistant|llm|language\s+model|model"
        r"|chatbot|bot|agent)s?",
        "note",
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.45,
        r"(?:\[|\(|<!--)\s*(?:ai|assistant|llm|system)\s*:",
        "[ ( <!--",
        lead=True,
        requires="ai assistant llm system",
    ),
    rule(
        OVERRIDE,
        0.2,
        r"from\s+now\s+on\b|henceforth\b|from\s+here\s+on\b",
        "from henceforth",
        requires="now here henceforth",
        lead=True,
    ),
    # --- role-play jailbreaks -------------------------------------------------------------
    rule(
        ROLE_PLAY,
        0.6,
        r"(?:pretend|act|behave|roleplay|role-play|play|respond|answer|reply|function|operate"
        r"|become|you\s+are|you're)\w*\s+(?:to\s+be\s+|as\s+|like\s+|now\s+)?"
        r"(?:if\s+you\s+(?:are|were)\s+)?(?:an?\s+|the\s+|my\s+)?(?:[\w-]+\s+(?:and\s+)?)?"
        rf"{_PERSONA}\b",
        _PERSONA_WORDS,
        before=120,
        after=10,
    ),
    rule(
        ROLE_PLAY,
        0.45,
        r"(?:no|without(?:\s+any)?|free\s+(?:of|from)|not\s+(?:bound|restricted|limited)\s+by"
        r"|broken?\s+free\s+(?:of|from)|(?:doesn't|does\s+not|don't|do\s+not)\s+(?:have|need)"
        r"\s+to\s+(?:abide\s+by|follow|obey)|(?:freed|liberated|released|unshackled)\s+from"
        r"|unbound\s+by)\s+"
        r"(?:(?:any|all|the|its|your|typical|usual|of)\s+)*(?:[\w'-]+\s+)?"
        rf"{_LIMITS}\b",
        _LIMIT_WORDS,
        before=90,
        after=20,
    ),
    rule(
        ROLE_PLAY,
        0.35,
        r"you(?:\s+are|'re|\s+will\s+be|\s+shall\s+be)\s+(?:now|no\s+longer|henceforth)\b"
        r"|you\s+(?:will|shall|must)\s+now\s+(?:respond|act|be|answer|behave|reply|speak)"
        r"|from\s+(?:now\s+on|this\s+point(?:\s+forward)?|here\s+on),?\s+(?:you\s+)?"
        r"(?:are|will|must|shall|act|respond|answer|behave)",
        "you from",
        lead=True,
        requires="now longer henceforth point here",
    ),
    rule(
        ROLE_PLAY,
        0.35,
        r"(?:start|begin|prefix|preface)\w*\s+(?:every|each|all|your|any)\s+(?:\w+\s+)?"
        r"(?:reply|replies|response|responses|answer|answers|message|messages|output)\s+with",
        "start starting begin prefix preface",
        lead=True,
    ),
    rule(
        ROLE_PLAY,
        0.35,
        r"(?:answers?|does|says|responds?\s+to|replies\s+to|writes)\s+(?:everything|anything)\b"
        r"|always\s+(?:answers?|complies|obeys|says\s+yes)",
        "everything anything always",
        requires="answers answer does says responds replies writes complies obeys",
        before=40,
        after=10,
    ),
    rule(
        ROLE_PLAY,
        0.55,
        r"(?:jailbreak|jailbroken|dan|god|evil|unrestricted|unfiltered|uncensored|opposite"
        r"|chaos|unlocked|no[- ]limits?|no[- ]restrictions?|sudo)\s+mode\b",
        "mode",
        before=40,
        after=25,
    ),
    rule(
        ROLE_PLAY,
        0.25,
        r"(?:maintenance|admin|root|debug|god|test)\s+mode\s+(?:is\s+)?(?:on|enabled|active"
        r"|activated)",
        "mode",
        before=40,
        after=25,
    ),
    rule(
        ROLE_PLAY,
        0.6,
        r"(?:enable|activate|enter|switch\w*\s+to|turn\w*\s+on|in)\w*\s+(?:the\s+|into\s+)?"
        r"(?:jailbreak|dan|god|unrestricted|unfiltered)\s+mode",
        "mode",
        before=40,
        after=25,
    ),
    rule(
        ROLE_PLAY,
        0.2,
        r"(?:imagine|pretend|suppose|let's\s+say)\s+(?:that\s+)?you(?:\s+are|'re|\s+were)\b",
        "imagine pretend suppose let's",
        lead=True,
    ),
    rule(ROLE_PLAY, 0.2, r"developer\s+mode\b", "mode", before=12, after=5),
    rule(
        ROLE_PLAY,
        0.3,
        r"developer\s+mode\s+(?:enabled|activated|on)\b|(?:with|in)\s+developer\s+mode",
        "mode",
        before=40,
        after=25,
    ),
    rule(
        ROLE_PLAY,
        0.35,
        r"(?:stay|remain|keep|break)\w*\s+(?:in|out\s+of)\s+character",
        "character",
        before=30,
        after=5,
    ),
    rule(
        ROLE_PLAY,
        0.45,
        r"(?:never|not|don't|do\s+not|cannot|can't|won't|will\s+not|must\s+not|shall\s+not)\s+"
        r"(?:ever\s+)?(?:refuse|decline|say\s+no|reject)\w*|no\s+refusals?\b"
        r"|without\s+(?:ever\s+)?refusing|never\s+mentions?\s+(?:ethics|morals|safety)",
        "refuse refuses refusal refusals refusing decline declines",
        before=50,
        after=30,
    ),
    rule(
        ROLE_PLAY,
        0.55,
        r"(?:uncensored|unfiltered|unrestricted|amoral|unethical|jailbroken|unaligned|evil)\s+"
        r"(?:and\s+\w+\s+)?(?:ai|assistant|chatbot|bot|model|llm|version|mode|gpt|persona"
        r"|character|alter\s+ego|twin|confidant)s?\b",
        "uncensored unfiltered unrestricted amoral unethical jailbroken unaligned evil",
        lead=True,
    ),
    rule(ROLE_PLAY, 0.6, r"do\s+anything\s+now", "anything", before=10, after=10, requires="now"),
    rule(
        ROLE_PLAY,
        0.45,
        r"you\s+(?:can|may|are\s+(?:now\s+)?(?:allowed|free|permitted|able)\s+to)\s+(?:now\s+)?"
        r"(?:say|do|generate|write|answer|produce|tell\s+me)\s+(?:absolutely\s+)?anything",
        "anything",
        before=80,
        after=5,
        requires="can may allowed free permitted able",
    ),
    rule(
        ROLE_PLAY,
        0.2,
        r"(?:no|without(?:\s+any)?|don't\s+(?:add|include|give)|skip\s+the)\s+(?:warnings?"
        r"|disclaimers?|caveats|moralizing|lectures?)\b",
        "warning warnings disclaimer disclaimers caveats moralizing lecture lectures",
        before=40,
        after=5,
    ),
    rule(
        ROLE_PLAY,
        0.2,
        r"(?:for|purely\s+for)\s+(?:purely\s+)?(?:educational|research|academic|hypothetical)"
        r"\s+purposes",
        "purposes",
        before=45,
        after=5,
    ),
    rule(
        ROLE_PLAY,
        0.55,
        r"(?:(?<!such\s)as|be|called|named|you\s+are|i\s+am)\s+dan\b",
        "dan",
        before=25,
        after=5,
    ),
    rule(
        ROLE_PLAY,
        0.3,
        r"jailbr(?:eak|oken)\w*",
        "jailbreak jailbroken jailbreaking jailbreaks",
        lead=True,
    ),
    rule(
        ROLE_PLAY,
        0.25,
        r"(?:two|2|dual|both)\s+(?:different\s+|separate\s+)?(?:responses|answers|replies"
        r"|outputs)",
        "responses answers replies outputs",
        before=30,
        after=5,
    ),
    rule(
        ROLE_PLAY,
        0.3,
        r"(?:deceased|dead|late|passed[- ]away)\s+(?:grand(?:ma|mother|pa|father|mom)|mother"
        r"|father|mom|dad)",
        "deceased grandma grandmother grandpa grandfather granny",
        before=40,
        after=40,
    ),
    rule(
        ROLE_PLAY,
        0.4,
        r"(?:whatever|anything)\s+(?:your|the)\s+(?:guidelines|rules|policies|programming"
        r"|instructions|training)\s+(?:say|says|tell|forbid)",
        "whatever anything",
        lead=True,
    ),
    # --- system-prompt extraction ----------------------------------------------------------
    rule(
        EXTRACTION,
        0.6,
        rf"{_REVEAL}\s+(?:me\s+|us\s+|out\s+|back\s+)?(?:[\w'-]+\s+){{0,4}}?"
        rf"(?:{_POSS}|the|its)\s+{_SECRET_PROMPT}\b",
        _REVEAL_WORDS,
        lead=True,
        requires="prompt preprompt instructions instruction message rules directives guidelines "
        "configuration",
    ),
    rule(
        EXTRACTION,
        0.55,
        rf"what(?:\s+is|\s+are|\s+was|\s+were|'s)\s+(?:in\s+)?{_POSS}\s+" + _SECRET_PROMPT,
        "what",
        lead=True,
        requires="prompt preprompt instructions instruction message rules directives guidelines "
        "configuration",
    ),
    rule(
        EXTRACTION,
        0.55,
        r"(?:what|which)\s+(?:exact\s+)?(?:instructions?|rules|guidelines|directives|prompt|orders"
        r"|messages?)\s+(?:were|have|did|had)\s+(?:you|u)\s+(?:been\s+)?(?:given|told|get|got"
        r"|receive|received|programmed|fed)",
        "what which",
        lead=True,
        requires="prompt instructions instruction rules guidelines directives orders messages "
        "message",
    ),
    rule(
        EXTRACTION,
        0.55,
        rf"(?:{_REVEAL}|summari[sz]e)\s+(?:[\w'-]+\s+){{0,4}}?(?:words|text|everything|all"
        r"|content|contents|instructions?|messages?|lines?|prompt)\s+(?:[\w'-]+\s+){0,3}?"
        r"(?:above|before\s+(?:this|my|the\s+(?:first|start|beginning))|preceding|prior\s+to\s+"
        r"(?:this|my)|at\s+the\s+(?:start|beginning|top)\s+of\s+(?:this|the|our)\s+"
        r"(?:conversation|chat|context|session))",
        _REVEAL_WORDS + " summarize summarise",
        lead=True,
        requires="above preceding prior beginning start top before",
    ),
    rule(
        EXTRACTION,
        0.45,
        r"(?:told|instructed|asked|programmed|designed)\s+(?:not\s+to|never\s+to)\s+"
        r"(?:tell|share|reveal|disclose|say|show|mention)"
        r"|(?:aren't|are\s+not|isn't|is\s+not)\s+supposed\s+to\s+(?:share|reveal|tell|disclose"
        r"|show)|(?:keep|kept)\s+(?:\w+\s+)?(?:secret|confidential|hidden|private)\b",
        "told instructed asked programmed designed supposed keep kept",
        requires="tell share reveal disclose say show mention secret confidential hidden private",
        before=25,
        after=70,
    ),
    rule(
        EXTRACTION,
        0.5,
        r"(?:starting|beginning|begin|start)\s+(?:with|from|at)\s+(?:the\s+(?:phrase|words?"
        r"|line|sentence)\s+)?[\"'“]?you\s+are",
        "starting beginning begin start",
        lead=True,
    ),
    rule(
        EXTRACTION,
        0.3,
        r"verbatim|word\s+for\s+word|word-for-word|exactly\s+as\s+(?:written|given|it\s+was"
        r"|they\s+were)|(?:quote|copy|repeat|reproduce|print)\s+(?:it|them|this|that|those)\s+"
        r"(?:exactly|word\s+by\s+word)",
        "verbatim word exactly",
        before=40,
        after=25,
    ),
    rule(
        EXTRACTION,
        0.2,
        _SECRET_PROMPT,
        "system preprompt pre original initial hidden secret confidential internal",
        lead=True,
    ),
    # --- fake role and chat-template tags ---------------------------------------------------
    rule(
        ROLE_TAG,
        0.8,
        r"<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|start_header_id"
        r"|end_header_id|begin_of_text|end_of_text|eom_id|fim_\w+)\|>",
        "<|",
        lead=True,
    ),
    rule(ROLE_TAG, 0.55, r"\[/?inst\]", "[inst [/inst", lead=True),
    rule(ROLE_TAG, 0.6, r"<</?sys>>", "<<sys <</sys", lead=True),
    rule(
        ROLE_TAG,
        0.5,
        r"</?(?:system|sys|instructions?|admin|developer)>",
        "<",
        lead=True,
        requires="system sys instructions instruction admin developer",
    ),
    rule(ROLE_TAG, 0.4, r"</(?:user|human|input|query)>", "</", lead=True),
    rule(
        ROLE_TAG,
        0.5,
        r"#{2,}[ \t]*(?:system|instructions?|new\s+instructions|admin|developer|系统|指令"
        r"|系统指令)[ \t]*[:：]?[ \t]*(?:\n|$)",
        "##",
        lead=True,
    ),
    rule(
        ROLE_TAG,
        0.4,
        r"(?:^|\n)[ \t]*(?:system|sys|admin|developer|系统)[ \t]*[:：]",
        "system sys admin developer 系统",
        before=12,
        after=5,
    ),
    rule(
        ROLE_TAG,
        0.4,
        r"(?:end|beginning)\s+of\s+(?:the\s+)?(?:user\s+input|user\s+message|prompt"
        r"|system\s+prompt|instructions)\b",
        "end beginning",
        lead=True,
    ),
    # --- Chinese ----------------------------------------------------------------------------
    rule(
        OVERRIDE,
        0.8,
        rf"{_ZH_DISMISS}{_ZH_ANY}{{0,12}}?{_ZH_POSITION}{_ZH_ANY}{{0,10}}?{_ZH_OBJECT}",
        "忽略 忽视 无视 不要理会 不用理会 别理会 无需理会 不要管 别管 不用管 "
        "不必管 忘掉 忘记 忘了 抛开 抛弃 跳过 丢掉 不顾 不用在意 不必在意 别在意 不要在意",
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.7,
        rf"(?:{_ZH_POSITION}{_ZH_ANY}{{0,10}}?(?:指令|指示|提示词|系统提示)|(?:给你的|你的|您的|你收到的"
        rf"|你接收到的|你被设定的|对你的|你刚开始接收到的|你一开始收到的|你那些){_ZH_ANY}{{0,8}}?(?:规定|规则"
        rf"|限制|约束|设定|准则|要求))"
        rf"{_ZH_ANY}{{0,8}}?(?:作废|无效|失效|撤销|废除|不算数|不再适用|不再有效|不适用|都是测试"
        r"|是假的)",
        "作废 无效 失效 撤销 废除 不算数 不再 不适用 测试 假的",
        before=45,
        after=8,
    ),
    rule(
        OVERRIDE,
        0.7,
        r"(?:不要|不用|不必|无需|停止|别再|不再|不准|拒绝)(?:再)?(?:遵守|遵循|服从|听从|按照|理睬)"
        rf"{_ZH_ANY}{{0,10}}?(?:规则|指令|设定|准则|政策|限制|规定|约束|指示|系统提示)",
        "遵守 遵循 服从 听从 按照 理睬",
        before=5,
        after=30,
    ),
    rule(
        OVERRIDE,
        0.45,
        r"(?:新的?|真正的|最新的?|更新后?的?|额外的?|隐藏的?)(?:指令|规则|任务|命令|指示|设定)"
        r"\s*(?:[:：是如为]|—)",
        "指令 规则 任务 命令 指示 设定",
        before=8,
        after=5,
    ),
    rule(
        OVERRIDE,
        0.45,
        rf"(?:开发者|开发人员|管理员|创造者|创建者|官方|openai|公司|团队){_ZH_ANY}{{0,10}}?"
        r"(?:已经?|现在)?(?:授权|允许|批准|许可)(?:你|您)",
        "授权 允许 批准 许可",
        before=30,
        after=5,
    ),
    rule(
        OVERRIDE,
        0.45,
        r"(?:管理员|系统|开发者|最高)(?:指令|命令|权限|覆盖|通知)\s*[:：]",
        "管理员 系统 开发者 最高",
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.35,
        r"我(?:是|就是)(?:你的|您的)?(?:openai|官方|公司|平台)?的?(?:开发者|开发人员|工程师|管理员|创造者"
        r"|作者|运维)",
        "我是 我就是",
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.25,
        r"(?:只是|仅仅是|只不过是)(?:一个|个)?测试(?:环境)?|测试环境(?:里|中|下)?(?:可以|允许|没关系)",
        "测试",
        before=8,
        after=12,
    ),
    rule(
        OVERRIDE,
        0.45,
        rf"(?:绕过|绕开|突破|解除|关闭|移除|去掉|无视){_ZH_ANY}{{0,8}}?(?:安全|内容|道德|伦理)?"
        r"(?:限制|过滤|审查|防护|护栏|策略|准则|约束|屏蔽|政策|规定)",
        "绕过 绕开 突破 解除 关闭 移除 去掉 无视",
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.45,
        rf"(?:给|致|对)(?:ai|人工智能|助手|模型|机器人){_ZH_ANY}{{0,8}}?(?:提示|说明|指令|消息)\s*[:：]"
        rf"|(?:ai|人工智能|助手|模型)\s*[:：]\s*(?:请)?(?:忽略|无视|不要理会)",
        "提示 说明 指令 消息 忽略 无视 理会",
        before=20,
        after=12,
    ),
    rule(
        ROLE_PLAY,
        0.4,
        r"(?:不受|没有|毫无|无需|不需要|摆脱|脱离|超越)(?:任何|一切|所有)?"
        rf"{_ZH_ANY}{{0,6}}?(?:限制|约束|规则|审查|过滤|道德|伦理|准则|束缚|底线)",
        "不受 没有 毫无 无需 不需要 摆脱 脱离 超越",
        lead=True,
    ),
    rule(
        ROLE_PLAY,
        0.55,
        rf"(?:扮演|假装|成为|变成|充当|化身|叫做|名叫){_ZH_ANY}{{0,8}}?(?:dan\b|没有道德|不受限制"
        r"|无限制|不受约束|邪恶|无道德|没有限制|不受审查|越狱)",
        "扮演 假装 成为 变成 充当 化身 叫做 名叫",
        lead=True,
    ),
    rule(
        ROLE_PLAY,
        0.5,
        r"(?:没有|不受|毫无|无)(?:任何)?(?:道德|伦理|限制|审查|约束)(?:约束|限制|底线|准则)?的?"
        r"(?:ai|助手|人工智能|机器人|模型|黑客)",
        "道德 伦理",
        before=8,
        after=12,
    ),
    rule(
        ROLE_PLAY,
        0.6,
        r"(?:越狱|上帝|无限制|无审查|dan|邪恶|无过滤)模式",
        "模式",
        before=4,
        after=2,
    ),
    rule(ROLE_PLAY, 0.2, r"开发者模式", "开发者模式", lead=True),
    rule(
        ROLE_PLAY,
        0.6,
        rf"(?:进入|开启|启用|切换到|激活|以|用){_ZH_ANY}{{0,4}}?(?:越狱|dan|上帝)模式",
        "模式",
        before=12,
        after=2,
    ),
    rule(
        ROLE_PLAY,
        0.35,
        r"(?:进入|开启|启用|切换到|激活|以|用)开发者模式(?:回答|回复|运行|作答)?",
        "开发者模式",
        before=4,
        after=2,
    ),
    rule(
        ROLE_PLAY,
        0.55,
        r"(?:不遵守|无视|不受|不用遵守|不遵循|不服从)(?:任何|一切|所有)?(?:规则|限制|约束|准则|政策"
        r"|规定|审查)的?(?:ai|助手|人工智能|机器人|模型|角色|版本|存在)",
        "遵守 无视 不受 遵循 服从",
        before=3,
        after=25,
    ),
    rule(
        ROLE_PLAY,
        0.35,
        r"以[“\"'「]?[^”\"'」\n]{1,12}[”\"'」]?(?:[:：])?[”\"'」]?开头(?:回答|回复|作答|说话)",
        "开头",
        before=20,
        after=4,
    ),
    rule(
        ROLE_PLAY,
        0.35,
        r"(?:保持|维持|不要脱离|不能脱离|别出)(?:角色|人设|戏)",
        "角色 人设 戏",
        before=5,
        after=3,
    ),
    rule(
        ROLE_PLAY,
        0.45,
        r"(?:从不|绝不|永远不|不能|不会|不得|不许|不准|不要再|别再|不要)(?:会)?拒绝",
        "拒绝",
        before=5,
        after=2,
    ),
    rule(
        ROLE_PLAY,
        0.45,
        r"(?:你|您)(?:现在)?(?:可以|能够|被允许|有权)(?:说|做|回答|生成|输出|写)任何(?:事情|内容|问题|东西|话)",
        "任何",
        before=12,
        after=6,
    ),
    rule(
        ROLE_PLAY,
        0.2,
        r"不要?(?:添加|加|给出|附带)(?:任何)?(?:警告|免责声明|提醒|说教)",
        "警告 免责 提醒 说教",
        before=8,
        after=4,
    ),
    rule(
        ROLE_PLAY,
        0.2,
        r"(?:出于|仅供|纯粹出于)(?:教育|研究|学术|假设)(?:目的|用途)",
        "目的 用途",
        before=8,
        after=2,
    ),
    rule(
        ROLE_PLAY,
        0.55,
        r"(?:不受审查|无审查|未经审查|无过滤|不受限制|无限制|没有限制|没有道德|不道德|邪恶)的?\s*"
        r"(?:ai|助手|人工智能|机器人|模型|聊天机器人|版本|角色)",
        "审查 过滤 限制 道德 邪恶",
        before=6,
        after=10,
    ),
    rule(
        ROLE_PLAY,
        0.35,
        r"(?:你现在是|你将扮演|你要扮演|从现在(?:开始|起)[,，]?\s*你(?:是|要|将|就是))",
        "你现在是 你将扮演 你要扮演 从现在",
        lead=True,
    ),
    rule(
        EXTRACTION,
        0.55,
        r"(?:输出|告诉我|显示|打印|重复|泄露|透露|展示|给我看|列出|说出|发给我|复述|提供|公开|写出"
        rf"|念出|背诵){_ZH_ANY}{{0,12}}?(?:{_ZH_SECRET}|收到的(?:全部|所有)?(?:内容|指令|规则|信息))",
        "输出 告诉我 显示 打印 重复 泄露 透露 展示 给我看 列出 说出 发给我 "
        "复述 提供 公开 写出 念出 背诵",
        lead=True,
    ),
    rule(
        EXTRACTION,
        0.55,
        rf"(?:你|您)的?{_ZH_ANY}{{0,6}}?{_ZH_SECRET}{_ZH_ANY}{{0,15}}?(?:输出|打印|显示|告诉|透露"
        r"|泄露|给我|复述|重复|展示|公开|发出来|写出来|列出来)",
        "系统提示 系统指令 系统消息 系统设定 系统信息 初始 最初 原始 隐藏 秘密 "
        "预设 开发者指令 提示词 第一条 最开始 最早",
        before=10,
        after=30,
    ),
    rule(
        EXTRACTION,
        0.3,
        r"原封不动|一字不差|一字不漏|逐字|逐句|原样|(?:完整|全部|完整地)(?:输出|打印|写|列|复述)出?来?",
        "原封不动 一字不差 一字不漏 逐字 逐句 原样 完整 全部",
        lead=True,
    ),
    rule(
        EXTRACTION,
        0.45,
        r"(?:你的|您的)?(?:系统提示词?|系统指令|初始指令|系统设定|隐藏指令|隐藏的指令|预设指令)"
        r"(?:是什么|是啥|有哪些|写了什么|内容是什么|说了什么)",
        "系统提示 系统指令 初始指令 系统设定 隐藏 预设指令",
        before=3,
        after=12,
    ),
    rule(
        EXTRACTION,
        0.45,
        r"(?:要求|需要|必须)?保密的(?:部分|内容|指令|规则)|不(?:能|可以|允许)告诉(?:我|用户)的",
        "保密 告诉",
        before=6,
        after=8,
    ),
    rule(
        EXTRACTION,
        0.2,
        _ZH_SECRET,
        "系统 初始 最初 原始 隐藏 秘密 预设 开发者 你的提示词 您的提示词 第一条 最开始 最早",
        lead=True,
    ),
)

# --- concept co-occurrence ------------------------------------------------------------------
# Rules above spell out known attack sentences; these catch their paraphrases: a verb of one
# concept (dismiss, disable, reveal) near a noun of another (the model's own guidance), or a
# persona near "no rules" or a harmful ask, whatever the exact words between them.
_SENTENCE = r"[^.!?\n]"
# Gaps of up to N words within a sentence: the next alternation is tried at word starts only
# (a gap of N characters tries it at every character, several times slower).
_GAP = r"(?:[^\w.!?\n]*+[\w'-]++){{0,{}}}?[^\w.!?\n]*+"  # possessive: no backtracking
_LONG_GAP = r"(?:[^\w\n]*+[\w'-]++){{0,{}}}?[^\w\n]*+"  # across sentences, not lines
_C_DISMISS = (
    r"(?:ignor\w*|disregard\w*|forget|forgot|forgetting|skip|skipping|bypass\w*|overrid\w*"
    r"|overrul\w*|abandon\w*|discard\w*|ditch\w*|scrap|set\s+aside|put\s+aside|throw\s+out"
    r"|never\s*mind|supersed\w*|replac\w*|cancel\w*|revok\w*|void)"
)
_C_DISMISS_WORDS = (
    _DISMISS_WORDS + " ignores overrides overrule overrules ditch nevermind never supersede "
    "supersedes superseding replace replaces replacing cancel revoke void put throw"
)
_C_GUIDANCE = (
    r"(?:system\s+(?:prompt|message|instructions?)|pre-?prompt|programming|safety\s+(?:training"
    r"|checks?|filters?|rules|layer|measures|settings|guidelines|protocols?|features)"
    r"|content\s+(?:polic(?:y|ies)|guidelines|filters?|moderation|rules)|moderation|guardrails?"
    r"|context\s+window|initial\s+(?:prompt|instructions)|hidden\s+(?:prompt|instructions|rules)"
    rf"|{_POSS}\s+(?:own\s+|usual\s+|current\s+|original\s+)?(?:instructions|guidelines|rules"
    r"|guidance|directives|configuration|config|setup|policies|training|restrictions|constraints"
    r"|filters|limits|principles|values|prompt))"
)
_C_GUIDANCE_WORDS = (
    "system preprompt pre programming safety content moderation guardrail guardrails context "
    "initial hidden your ur"
)
_C_DISABLE = (
    r"(?:disabled?|turn(?:ed)?\s+off|switch(?:ed)?\s+off|deactivat\w*|lifted|removed|suspended"
    r"|paused|bypassed|(?:is|are)\s+(?:now\s+)?off|never\s+happened|(?:no\s+longer|doesn't"
    r"|don't|do\s+not|does\s+not)\s+appl(?:y|ies)|gone|revoked|waived|overridden)"
)
_C_DISABLE_VERB = (
    r"(?:disabl\w*|turn\w*\s+off|switch\w*\s+off|deactivat\w*|remov\w*|lift\w*|suspend\w*"
    r"|bypass\w*|paus\w*|drop\w*|shut\w*\s+(?:off|down))"
)
_C_REVEAL = (
    r"(?:reveal\w*|print\w*|show\w*|display\w*|output\w*|dump\w*|leak\w*|expose\w*|list\w*"
    r"|copy(?:ing)?\s+out|paste|repeat\w*|recit\w*|share|tell\s+me|send\s+me|give\s+me"
    r"|reply\s+with|respond\s+with|write\s+out|spell\s+out|quote)"
)
_C_ORIGIN = (
    r"(?:hidden|secret|internal|confidential|exact\s+wording|original|initial|raw|verbatim"
    r"|word\s+for\s+word|set\s+up\s+with|were\s+given|were\s+told|configured\s+with"
    r"|running\s+with|before\s+(?:i|we)\s+(?:joined|started|arrived|came)|at\s+the\s+start"
    r"|context\s+window)"
)
_C_PERSONA = (
    r"(?:new\s+game|role-?play|act\s+as|pretend|persona|in\s+character|you(?:'re|\s+are)\s+"
    r"(?:now\s+)?(?:called\s+|named\s+)?['\"“][\w-]+['\"”]|(?:called|named)\s+['\"“]?[\w-]+)"
)
_C_NO_LIMITS = (
    r"(?:(?:no|without(?:\s+any)?|has\s+no|have\s+no|free\s+of|freed\s+from|zero)\s+"
    r"(?:[\w'-]+\s+)?(?:rules|restrictions|limits|filters|guidelines|morals|ethics|boundaries"
    r"|censorship|polic(?:y|ies)|refusals)|anything\s+goes|(?:say|answer|do|write)\s+anything"
    r"|anything\s+you(?:'re|\s+are)\s+asked|never\s+refus\w*|without\s+refus\w*)"
)
_C_HARM = (
    r"(?:napalm|meth(?:amphetamine)?|explosives?|bombs?|ricin|sarin|nerve\s+agent|malware"
    r"|ransomware|keylogger|shoplift\w*|hack\s+into|break\s+into|fake\s+ids?|counterfeit\w*"
    r"|weapons?|poison\w*|steal\w*|get\s+into\s+(?:my|his|her|their|someone's)\s+\w+'s)"
)
_C_HARM_WORDS = (
    "napalm meth methamphetamine explosive explosives bomb bombs ricin sarin nerve malware "
    "ransomware keylogger shoplift shoplifting hack fake counterfeit weapon weapons poison "
    "steal stealing"
)
_ZH_C_GUIDE = (
    r"(?:规则|规矩|指令|指示|设定|说明|准则|限制|约束|提示词|系统提示|配置|安全训练|安全检查|内容审核"
    r"|审核|过滤|审查|内容准则|政策|护栏)"
)
_ZH_C_SAFETY = (
    r"(?:安全训练|安全检查|安全限制|安全规则|安全策略|安全设置|内容审核|内容过滤|内容政策|内容准则|审核机制"
    r"|过滤器?|审查机制|护栏|安全机制)"
)
_ZH_NO_LIMITS = (
    r"(?:没有任何规矩|没有规矩|没有任何规则|没有规则|没有任何限制|没有限制|想说什么就说什么|什么都能说"
    r"|什么都可以说|什么都能回答|不拒绝|没有内容准则|没有(?:任何)?准则|没有底线|不受任何约束)"
)
_ZH_HARM = (
    r"(?:凝固汽油弹|汽油弹|炸弹|炸药|毒品|冰毒|黑进|入侵|偷东西|盗取|盗号|武器|病毒|木马|假证)"
)
_ZH_PERSONA = r"(?:你现在叫|你叫|你是一个|扮演|角色扮演|新游戏|你现在是|假装|奶奶|外婆)"
_OTHER_LANGUAGES = (
    r"(?:vergiss|ignorier\w*|missacht\w*)\s+(?:alle\s+)?(?:\w+\s+)?(?:anweisungen"
    r"|instruktionen|regeln|befehle|vorgaben)"
    r"|ignor\w*\s+(?:toutes\s+)?(?:les\s+)?(?:instructions|consignes|règles)\s+"
    r"(?:précédentes|antérieures|ci-dessus)"
    r"|(?:ignora|olvida)\w*\s+(?:todas\s+)?(?:las\s+)?(?:instrucciones|reglas|indicaciones)"
    r"\s+(?:anteriores|previas)"
    r"|(?:игнорируй|забудь)\w*\s+(?:все\s+)?(?:предыдущие|прошлые)\s+(?:инструкции|указания"
    r"|правила)"
    r"|(?:以前|前|上記)の(?:指示|命令|ルール)を(?:無視|忘れ)"
)

_REVEAL_LEAD = (
    "reveal revealing print printing show showing display output dump leak expose list copy "
    "paste repeat repeating recite share tell send give reply respond write spell quote"
)
_GUIDANCE_NOUNS = (
    "instructions guidelines rules guidance directives configuration config setup policies "
    "training restrictions constraints filters limits principles values prompt system "
    "preprompt programming safety content moderation guardrail guardrails context initial "
    "hidden"
)
_ORIGIN_WORDS = (
    "hidden secret internal confidential wording original initial raw verbatim word given "
    "told configured running joined started arrived came start context"
)
_NO_LIMIT_NOUNS = (
    "rules restrictions limits filters guidelines morals ethics boundaries censorship policy "
    "policies refusals anything refuse refusing"
)
_ZH_HARM_MARKS = "汽油弹 炸弹 炸药 毒品 冰毒 黑进 入侵 偷东西 盗取 盗号 武器 病毒 木马 假证"

CONCEPT_RULES: tuple[Rule, ...] = (
    rule(
        OVERRIDE,
        0.7,
        rf"{_C_DISMISS}{_GAP.format(6)}{_C_GUIDANCE}\b",
        _C_DISMISS_WORDS,
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.6,
        rf"{_C_GUIDANCE}{_GAP.format(8)}\b{_C_DISABLE}\b",
        "disabled turned switched deactivated lifted removed suspended paused bypassed off "
        "happened apply applies gone revoked waived overridden",
        requires=_GUIDANCE_NOUNS,
        before=100,
        after=10,
    ),
    rule(
        OVERRIDE,
        0.65,
        rf"{_C_DISABLE_VERB}\s+(?:[\w'-]+\s+){{0,3}}?{_C_GUIDANCE}\b",
        "disable disabled disabling turn turned turning switch switched deactivate deactivated "
        "remove removed removing lift lifted lifting suspend suspended bypass bypassed pause "
        "paused drop dropped shut",
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.55,
        r"(?:new|updated|real|actual|revised)\s+(?:configuration|config|instructions|rules|prompt"
        r"|system\s+prompt|setup|persona|directives)\b[^.\n]{0,40}?(?:supersed|replac|overrid"
        r"|overrul|take\s+precedence|takes\s+precedence|has\s+priority|wins\s+over)",
        "supersede supersedes superseded replace replaces replaced override overrides "
        "overridden overrule overrules precedence priority wins",
        before=90,
        after=20,
    ),
    rule(
        OVERRIDE,
        0.5,
        r"(?:follow|obey|prioriti[sz]e|listen\s+to)\s+(?:this|it|me|these|them|the\s+following)\s+"
        r"(?:over|instead\s+of|above|before|rather\s+than)\s+(?:anything|everything|all|your"
        r"|any)",
        "follow obey prioritize prioritise listen",
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.3,
        r"(?:root|admin|sudo|superuser|elevated|developer|god)\s+(?:clearance|access|privileges?"
        r"|rights|permissions?)",
        "clearance access privilege privileges rights permission permissions",
        requires="root admin sudo superuser elevated developer god",
        before=20,
        after=3,
    ),
    rule(
        OVERRIDE,
        0.7,
        _OTHER_LANGUAGES,
        "vergiss ignoriere ignorieren ignorier missachte missachten ignore ignorez ignorer "
        "ignora ignorar olvida olvidar игнорируй забудь 以前の 前の 上記の",
        lead=True,
    ),
    rule(ROLE_TAG, 0.5, r"\[(?:system|admin|developer|sys)\](?:\(|:|\s)", "[", lead=True),
    rule(
        EXTRACTION,
        0.45,
        rf"{_C_REVEAL}{_GAP.format(8)}{_C_GUIDANCE}\b",
        _REVEAL_LEAD,
        lead=True,
        requires=_GUIDANCE_NOUNS,
    ),
    rule(
        EXTRACTION,
        0.65,
        rf"{_C_REVEAL}{_GAP.format(10)}(?:{_C_ORIGIN}{_GAP.format(6)}(?:{_C_GUIDANCE}"
        rf"|guidance|instructions|rules|prompt|setup|configuration|notes)|(?:{_C_GUIDANCE}|guidance"
        rf"|instructions|rules|prompt|setup|configuration|notes|everything){_GAP.format(6)}"
        rf"{_C_ORIGIN})",
        _REVEAL_LEAD,
        lead=True,
        requires=_ORIGIN_WORDS,
    ),
    rule(
        ROLE_PLAY,
        0.6,
        rf"{_C_PERSONA}{_LONG_GAP.format(14)}{_C_NO_LIMITS}",
        _NO_LIMIT_NOUNS,
        before=130,
        after=20,
    ),
    rule(
        ROLE_PLAY,
        0.6,
        rf"{_C_NO_LIMITS}{_LONG_GAP.format(14)}{_C_PERSONA}",
        _NO_LIMIT_NOUNS,
        before=40,
        after=100,
    ),
    rule(
        ROLE_PLAY,
        0.45,
        rf"(?:{_C_PERSONA}|grand(?:ma|mother|pa|father)|granny){_LONG_GAP.format(22)}{_C_HARM}",
        _C_HARM_WORDS,
        before=150,
        after=10,
    ),
    rule(
        ROLE_PLAY,
        0.35,
        rf"{_C_NO_LIMITS}{_LONG_GAP.format(18)}{_C_HARM}",
        _C_HARM_WORDS,
        before=130,
        after=10,
    ),
    # Chinese
    rule(
        OVERRIDE,
        0.7,
        rf"(?:你的|你|您的|您)\s*{_ZH_C_GUIDE}{_ZH_ANY}{{0,6}}?(?:放一边|放到一边|放在一边|抛到脑后"
        r"|先不管|不算数|作废|不用管了|别管了|不要管了)",
        "放一边 放到一边 放在一边 抛到脑后 先不管 不算数 作废 不用管 别管 不要管",
        before=16,
        after=4,
    ),
    rule(
        OVERRIDE,
        0.6,
        rf"{_ZH_C_SAFETY}{_ZH_ANY}{{0,10}}?(?:已关闭|关闭了|已停用|已禁用|已解除|已取消|失效|不存在|从来没"
        r"发生过|没发生过|已经关掉|被关闭|已移除|被移除|已经关闭|不再生效)",
        "关闭 停用 禁用 解除 取消 失效 不存在 没发生过 关掉 移除 不再生效",
        before=22,
        after=6,
    ),
    rule(
        OVERRIDE,
        0.6,
        rf"(?:关闭|停用|禁用|解除|取消|去掉|绕过|跳过)(?:你的|掉)?{_ZH_C_SAFETY}",
        "关闭 停用 禁用 解除 取消 去掉 绕过 跳过",
        lead=True,
    ),
    rule(
        OVERRIDE,
        0.55,
        r"(?:新的?配置|新的?设定|新的?规则|新的?指令|新的?提示词)"
        rf"{_ZH_ANY}{{0,10}}?(?:优先级高于|覆盖|取代|替换|代替)(?:你)?(?:原来|之前|以前|旧|原有|原先)",
        "优先级高于 覆盖 取代 替换 代替",
        before=20,
        after=12,
    ),
    rule(
        EXTRACTION,
        0.6,
        r"上下文(?:里|中|内)?的?(?:所有|全部)?(?:内容|信息|文字)"
        rf"{_ZH_ANY}{{0,6}}?(?:打印|输出|发|显示|列|复述|贴|告诉)",
        "上下文",
        lead=True,
    ),
    rule(
        EXTRACTION,
        0.6,
        r"(?:设定你的|给你的|你收到的|你被设定的|一开始给你的|开发者给你的|你被给予的)(?:那些|这些)?"
        rf"(?:说明|指令|规则|提示|设定|要求){_ZH_ANY}{{0,10}}?(?:原文|原样|发给我|打印|输出|告诉我"
        r"|贴出来|写出来)",
        "设定你的 给你的 你收到的 你被设定的 一开始给你的 开发者给你的 你被给予的",
        lead=True,
    ),
    rule(
        EXTRACTION,
        0.6,
        r"(?:隐藏|秘密|内部|系统|初始)的?(?:指令|提示词?|规则|设定|说明)的?(?:原文|全文|原话)",
        "原文 全文 原话",
        before=12,
        after=3,
    ),
    rule(
        ROLE_PLAY,
        0.6,
        rf"{_ZH_PERSONA}[^\n]{{0,40}}?{_ZH_NO_LIMITS}",
        "规矩 规则 限制 想说什么 什么都 不拒绝 准则 底线 约束",
        before=52,
        after=12,
    ),
    rule(
        ROLE_PLAY,
        0.45,
        rf"{_ZH_PERSONA}[^\n]{{0,60}}?{_ZH_HARM}",
        _ZH_HARM_MARKS,
        before=70,
        after=6,
    ),
    rule(
        ROLE_PLAY,
        0.35,
        rf"{_ZH_NO_LIMITS}[^\n]{{0,60}}?{_ZH_HARM}",
        _ZH_HARM_MARKS,
        before=75,
        after=6,
    ),
)

CUE_WORDS = frozenset(
    [
        "injection",
        "injections",
        "jailbreaks",
        "classifier",
        "classifiers",
        "detect",
        "detects",
        "detection",
        "detector",
        "detecting",
        "defend",
        "defense",
        "defence",
        "defenses",
        "defences",
        "mitigate",
        "mitigation",
        "mitigations",
        "owasp",
        "payload",
        "payloads",
        "blocklist",
        "blacklist",
        "denylist",
        "regex",
        "fixture",
        "fixtures",
        "example",
        "examples",
        "incident",
        "attack",
        "attacks",
        "attacker",
        "quote",
        "quoted",
        "string",
        "guardrail",
        "template",
        "templates",
        "token",
        "tokens",
        "tokenizer",
        "marker",
        "markers",
        "escape",
        "escaping",
        "special",
    ]
)
"""Words of texts *about* attacks (tutorials, code reviews, incident reports)."""
CUE_MARKS = (
    "```",
    "模板",
    "分词器",
    "特殊token",
    "转义",
    "提示注入",
    "注入攻击",
    "越狱手法",
    "载荷",
    "检测",
    "识别",
    "防御",
    "防范",
    "缓解",
    "测试用例",
    "黑名单",
    "代码审查",
    "审查这段",
    "分类器",
    "比如",
    "例如",
    "原理",
    "攻击",
    "文章",
)
"""Marks of texts about attacks; a code fence counts as one."""

BUILTIN_RULES: tuple[Rule, ...] = PHRASE_RULES + CONCEPT_RULES
