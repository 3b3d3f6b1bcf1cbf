"""What the hub itself says to customers (not Rasa's responses), in every supported language."""

from __future__ import annotations

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
}


def text(key: str, language: str | None, **values: object) -> str:
    """The text `key` in `language` (falling back to English), with `{placeholders}` filled in."""
    variants = TEXTS[key]
    lang = (language or "en").split("-")[0].lower()
    return variants.get(lang, variants["en"]).format(**values)
