"""What the hub itself says to customers (not Rasa's responses), in every supported language."""

from __future__ import annotations

from datetime import datetime

TEXTS: dict[str, dict[str, str]] = {
    "handoff_ack": {
        "en": "I've passed your conversation to our support team. A person will reply here as soon as possible.",
        "it": "Ho passato la conversazione al nostro team di assistenza. Una persona ti risponderà qui il prima possibile.",
        "zh": "我已将您的对话转交给我们的客服团队，工作人员会尽快在这里回复您。",
        "ro": "Am transmis conversația echipei noastre de asistență. Un coleg îți va răspunde aici cât mai curând.",
    },
    "bot_unavailable": {
        "en": "Sorry, I'm having technical trouble right now. Your message is saved and a person from our team will reply here.",
        "it": "Mi dispiace, ho un problema tecnico in questo momento. Il tuo messaggio è salvato e una persona del nostro team ti risponderà qui.",
        "zh": "抱歉，我现在遇到了技术问题。您的消息已保存，我们的工作人员会在这里回复您。",
        "ro": "Îmi pare rău, am o problemă tehnică acum. Mesajul tău a fost salvat și un coleg din echipa noastră îți va răspunde aici.",
    },
    "queue_position": {
        "en": "You are number {position} in the queue.",
        "it": "Sei il numero {position} in coda.",
        "zh": "您目前排在第 {position} 位。",
        "ro": "Ești numărul {position} la rând.",
    },
    "agent_joined": {
        "en": "{agent} from our support team has joined the conversation.",
        "it": "{agent} del nostro team di assistenza si è unito alla conversazione.",
        "zh": "客服 {agent} 已加入对话。",
        "ro": "{agent} din echipa noastră de asistență s-a alăturat conversației.",
    },
    "resolved": {
        "en": "This conversation has been marked as resolved. Write again any time if you need more help.",
        "it": "Questa conversazione è stata chiusa come risolta. Scrivici di nuovo quando vuoi se ti serve altro aiuto.",
        "zh": "此对话已标记为已解决。如需更多帮助，欢迎随时再次留言。",
        "ro": "Această conversație a fost marcată ca rezolvată. Scrie-ne oricând dacă mai ai nevoie de ajutor.",
    },
    "handed_back": {
        "en": "You're chatting with our virtual assistant again.",
        "it": "Stai di nuovo parlando con il nostro assistente virtuale.",
        "zh": "您现在重新与我们的虚拟助手对话。",
        "ro": "Vorbești din nou cu asistentul nostru virtual.",
    },
    "queue_wait": {
        "en": "The estimated wait is about {minutes} min.",
        "it": "L'attesa stimata è di circa {minutes} min.",
        "zh": "预计等待时间约 {minutes} 分钟。",
        "ro": "Timpul estimat de așteptare este de aproximativ {minutes} min.",
    },
    "queue_closed": {
        "en": "Our team is offline right now; expect a reply from {when}. Your message is saved.",
        "it": "Il nostro team ora non è disponibile; riceverai una risposta a partire da {when}. Il tuo messaggio è salvato.",
        "zh": "我们的团队目前不在线，预计将于 {when} 起回复您。您的消息已保存。",
        "ro": "Echipa noastră nu este disponibilă acum; vei primi un răspuns începând cu {when}. Mesajul tău a fost salvat.",
    },
    "queue_update": {
        "en": "Sorry for the wait: you are number {position} in the queue, about {minutes} min to go.",
        "it": "Scusa per l'attesa: sei il numero {position} in coda, mancano circa {minutes} min.",
        "zh": "抱歉让您久等：您目前排在第 {position} 位，大约还需 {minutes} 分钟。",
        "ro": "Ne pare rău pentru așteptare: ești numărul {position} la rând, mai durează aproximativ {minutes} min.",
    },
    "transferred": {
        "en": "I'm passing you to our {team} team.",
        "it": "Ti passo al nostro team {team}.",
        "zh": "正在为您转接至 {team} 团队。",
        "ro": "Te transfer către echipa noastră {team}.",
    },
    "csat_question": {
        "en": "How satisfied are you with the help you got? Tap 1 (poor) to 5 (excellent).",
        "it": "Quanto sei soddisfatto dell'aiuto ricevuto? Tocca da 1 (scarso) a 5 (eccellente).",
        "zh": "您对本次服务满意吗？请选择 1（很差）到 5（非常好）。",
        "ro": "Cât de mulțumit ești de ajutorul primit? Alege de la 1 (slab) la 5 (excelent).",
    },
    "unsupported_language": {
        "en": "Sorry, I can only answer in English, Italian, Chinese and Romanian. Write to me in one of these "
              "languages, or tap the button and a person from our team will help you.",
        "it": "Mi dispiace, posso rispondere solo in italiano, inglese, cinese e rumeno. Scrivimi in una di queste "
              "lingue, oppure tocca il pulsante e una persona del nostro team ti aiuterà.",
        "zh": "抱歉，我只能用中文、英文、意大利语和罗马尼亚语回复。请用其中一种语言给我留言，或点击下方按钮，我们的工作人员会为您提供帮助。",
        "ro": "Îmi pare rău, pot răspunde doar în română, engleză, italiană și chineză. Scrie-mi într-una dintre "
              "aceste limbi sau apasă butonul și un coleg din echipa noastră te va ajuta.",
    },
    "talk_to_person": {
        "en": "Talk to a person",
        "it": "Parla con una persona",
        "zh": "联系人工客服",
        "ro": "Vorbește cu un coleg",
    },
    "csat_thanks": {
        "en": "Thank you for your feedback!",
        "it": "Grazie per il tuo feedback!",
        "zh": "感谢您的反馈！",
        "ro": "Îți mulțumim pentru feedback!",
    },
}

WEEKDAYS: dict[str, tuple[str, ...]] = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "it": ("lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"),
    "zh": ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"),
    "ro": ("luni", "marți", "miercuri", "joi", "vineri", "sâmbătă", "duminică"),
}


def when(moment: "datetime", language: str | None) -> str:
    """A moment in the team's time zone, for customers: "Monday 09:00 (Europe/Rome)"."""
    lang = (language or "en").split("-")[0].lower()
    day = WEEKDAYS.get(lang, WEEKDAYS["en"])[moment.weekday()]
    zone = getattr(moment.tzinfo, "key", None) or moment.strftime("%Z")
    return f"{day} {moment:%d/%m %H:%M} ({zone})"


def text(key: str, language: str | None, **values: object) -> str:
    """The text `key` in `language` (falling back to English), with `{placeholders}` filled in."""
    variants = TEXTS[key]
    lang = (language or "en").split("-")[0].lower()
    return variants.get(lang, variants["en"]).format(**values)
