package feedback

import (
	"regexp"
	"strings"
)

// The phrase tables: what bounces and auto-replies say, one list per
// question, one line per language. The heuristics read them through the
// regular expressions below; adding a language is adding a line. Phrases
// are lower case and matched case-insensitively; keep them specific
// enough that a person writing about a delivery does not say them (the
// sender and the message's structure are weighed too, see humanBounce).

// bounceSubjects: a subject that says a message came back.
var bounceSubjects = []string{
	// English
	`undeliver|undelivered|returned mail|returned to sender|delivery status notif|delivery (?:failure|failed|problem|notification|report|error|has failed|incomplete)|mail delivery (?:failed|failure|subsystem|system|error)|failure notice|non[- ]?deliver|nondeliverable|could not be delivered|(?:was|were|message) not delivered|not delivered|unable to deliver|failed delivery|delivery unsuccessful|mail system error|bounced? mail|^bounce|address not found|delivery delayed|\bdelayed\b|delayed mail|delivery status|warning: could not send|message (?:delayed|delivery delayed|blocked|rejected)|undelivered message|mail could not be delivered|permanent delivery failure|message status - undeliverable|delivery failure`,
	// German, Dutch
	`unzustellbar|nicht zustellbar|nicht zugestellt|zustellung fehlgeschlagen|fehlgeschlagene zustellung|zustellungsfehler|niet afgeleverd|onbestelbaar|niet bezorgd`,
	// French
	`non remis|non distribuable|non (?:délivré|delivre|livré|distribué)|(?:échec|echec) (?:de (?:la )?|d')(?:remise|distribution|livraison|envoi|l'envoi)|retour de courrier|message non (?:remis|délivré|distribué)`,
	// Spanish, Portuguese, Italian
	`no entregado|no se pudo entregar|no se puede entregar|imposible entregar|error de entrega|não entregue|nao entregue|não é possível entregar|falha na entrega|mancato recapito|non recapitabile|non consegnat|consegna (?:fallita|non riuscita|ritardata)`,
	// Nordic, Polish, Czech, Hungarian, Turkish, Greek
	`olevererbart|kan ikke leveres|kunne ikke leveres|ikke levert|ei voitu toimittaa|niedostarczon|nedoručiteln|nedoručen|kézbesíthetetlen|teslim edilemedi|iletilemedi|μη παραδοθέν|αποτυχία παράδοσης`,
	// Russian, Ukrainian
	`недоставленн|не доставлен|не удалось доставить|ошибка доставки|не доставлено|не вдалося доставити`,
	// Japanese, Chinese, Korean
	`配信不能|配信エラー|配信失敗|送信エラー|无法投递|無法投遞|退信|退件|系统退信|系統退信|投递失败|發送失敗|发送失败|未能送达|메일 발송 실패|발송 실패|전송 실패|반송|배달 실패`,
}

// failPhrases: the body of a bounce says delivery failed.
var failPhrases = []string{
	// English
	`could ?n[o']t be delivered|was not delivered|wasn't delivered|were not delivered|not be delivered|cannot be delivered|can't be delivered|undeliverable|delivery (?:has )?failed|delivery to the following recipient|failed permanently|permanent(?:ly)? (?:fatal )?(?:error|failure|failed)|fatal errors?|unable to deliver|could not deliver|couldn't deliver|failed to deliver|delivery failure|address(?:es)? (?:not found|failed|couldn't be found|could not be found)|following addresses? (?:had|failed)|the following recipient|recipients? (?:could not|cannot) be reached|user unknown|unknown user|no such user|no mailbox|mailbox (?:unavailable|not found|is full)|does not exist|doesn't exist|returned to sender|this is the qmail-send program|this is the mail system at|i'm sorry to have to inform you|mail delivery failed|message delivery failed|non-?delivery|rejected your message|not listed in|unrouteable|unroutable|host unknown|sorry,|has been blocked|was undeliverable|failed addresses follow|undeliverable to the following|(?:was|were|has been|have been) rejected|message rejected|rejected by the (?:receiving|recipient's|remote|destination) (?:server|host|system)`,
	// German, Dutch
	`nicht zugestellt|unzustellbar|konnte nicht (?:zugestellt|ausgeliefert) werden|empfänger unbekannt|unbekannter empfänger|benutzer unbekannt|postfach (?:voll|nicht vorhanden|existiert nicht)|kon niet worden (?:afgeleverd|bezorgd)|onbekende ontvanger`,
	// French
	`n'a pas pu (?:être|etre) (?:remis|distribu|délivr|livr|achemin)|n'a pu (?:être|etre) (?:remis|distribu|délivr|livr)|impossible de (?:remettre|distribuer|délivrer|livrer)|destinataire inconnu|adresse (?:inconnue|introuvable|invalide)|utilisateur inconnu|boîte aux lettres (?:pleine|inexistante|du destinataire est pleine)`,
	// Spanish, Portuguese, Italian
	`no se pudo entregar|no (?:pudo|puede|ha podido) ser entregado|no se ha podido entregar|usuario desconocido|destinatario desconocido|buzón (?:lleno|no existe)|não foi possível entregar|não (?:pôde|pode|foi possível) ser entregue|usuário desconhecido|utilizador desconhecido|caixa (?:postal )?cheia|non è stato possibile|non (?:è|e') stat[oa] (?:consegnat|recapitat)|impossibile (?:consegnare|recapitare)|utente (?:inesistente|sconosciuto)|destinatario (?:inesistente|sconosciuto)|casella (?:piena|inesistente)|non (?:è )?ancora stat[oa] consegnat`,
	// Nordic, Polish, Czech, Hungarian, Turkish, Greek
	`kunde inte levereras|kunne ikke leveres|kan ikke leveres|kunne ikke afleveres|ei voitu toimittaa|nie (?:może|mogła|mógł|została|został) (?:zostać )?dostarczon|nie można dostarczyć|nieznany odbiorca|nelze doručit|nemohla být doručena|nebolo možné doručiť|nem kézbesíthető|nem sikerült kézbesíteni|teslim edilemedi|iletilemedi|δεν ήταν δυνατή η παράδοση|δεν παραδόθηκε`,
	// Russian, Ukrainian
	`не (?:может|могло|может быть|мог) быть доставлен|не удалось доставить|не доставлен|не существует|переполнен|ошибка доставки|не вдалося доставити|не може бути доставлен`,
	// Japanese, Chinese, Korean
	`送信できません|配信できません|届けることができません|お届けできません|宛先不明|配信に失敗|送信に失敗|届きませんでした|未能送达|無法送達|无法送达|无法投递|無法投遞|退信|被退回|投递失败|发送失败|發送失敗|无法发送|無法發送|不存在|발송에 실패|발송 실패|전송되지 못|전송에 실패|배달되지 못|전달되지 않|존재하지 않`,
}

// delayPhrases: the body of a warning says delivery goes on.
var delayPhrases = []string{
	// English
	`(?:will|shall) (?:continue to |keep )?(?:try|trying|retry|re-?attempt|attempt)|still (?:being )?(?:trying|retried|attempting|in the queue)|(?:has|have) not yet been delivered|not (?:yet )?been delivered yet|hasn't been delivered yet|is delayed|been delayed|delivery (?:is |has been )?delayed|delivery delay|this is a warning message only|warning message only|no action is required|could not send message for past|not delivered for .{1,20} hours|message (?:is )?(?:still )?(?:queued|delayed|deferred)|temporarily (?:deferred|delayed)|retry (?:time|timeout) not reached|will be retried|will be attempted|delivery incomplete|temporary (?:problem|failure)`,
	// German, Dutch, French
	`verzögert|noch nicht zugestellt|weiterhin versucht|wird erneut versucht|retardée?|en attente de remise|pas encore été (?:remis|délivré|distribué)|nouvelle tentative|vertraagd|nog niet afgeleverd`,
	// Spanish, Portuguese, Italian
	`retrasad|se seguirá intentando|seguiremos intentando|aún no (?:ha sido|se ha) entregad|atrasad|ainda não foi entregue|tentaremos novamente|non (?:è )?ancora stat[oa] consegnat|continuerà a tentare|riproveremo|ritardat`,
	// Russian, Japanese, Chinese, Korean
	`задерж|ещё не доставлен|еще не доставлен|будут продолжены|будет повторен|повторн(?:ая|ые) попытк|遅延|再試行|延迟|延遲|重试|重試|지연|재시도`,
}

// delaySubjects: a subject that says a warning, not a failure.
var delaySubjects = []string{
	`\bdelay(?:ed)?\b|\bwarning\b|\bstill trying\b|not yet delivered|deferred|verzögert|retard|ritardat|retrasad|atrasad|vertraagd|задерж|遅延|延迟|延遲|지연`,
}

// autoSubjectPhrases open auto-reply subjects.
var autoSubjectPhrases = []string{
	// English
	`out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?(?:reply|response|answer|antwort)|auto:|autoreply|autoresponse|away from|on vacation|vacation|i am out|i'm out|absence|absent`,
	// German, Dutch, Nordic
	`abwesenheit|automatische antwort|automatisch antwoord|afwezig|autosvar|automatisk svar|automatiskt svar|automaattinen vastaus`,
	// Romance
	`réponse automatique|reponse automatique|risposta automatica|respuesta automática|respuesta automatica|resposta automática|resposta automatica|resposta automàtica|răspuns automat|fuera de la oficina|fuori sede|fuori ufficio|ausente|assente`,
	// Slavic, Baltic, Hungarian, Turkish, Greek
	`odpowiedź automatyczna|automatická odpověď|automatická odpoveď|automatski odgovor|samodejni odgovor|автоматический ответ|автоответ|автоматична відповідь|автоматичен отговор|automatinis atsakymas|automātiskā atbilde|automaatne vastus|automatikus válasz|otomatik yanıt|otomatik cevap|αυτόματη απάντηση`,
	// Asian, Hebrew, Arabic
	`自動応答|自動返信|自动回复|自動回覆|不在|자동 회신|자동회신|자동 응답|trả lời tự động|balasan otomatis|ตอบกลับอัตโนมัติ|תשובה אוטומטית|رد تلقائي`,
}

// autoSubjectWeak: words of away subjects that people use too; they
// count only with away wording in the body of a message that is no reply.
var autoSubjectWeak = []string{
	`holiday|leave|urlaub|abwesend|vacaciones|ausencia|férias|ausência|congés|congé|ferie|assenza|afwezigheid|semester|poissa|nieobecność|отпуск|休暇|休假|휴가`,
}

// autoBodyPhrases: the body of an auto-reply; they count only on a
// message that is automatic anyway (or opens with one of the strong ones).
var autoBodyPhrases = []string{
	// English
	`out of (?:the )?office|on (?:vacation|holiday|leave|annual leave|maternity leave)|(?:am|will be) (?:currently )?(?:away|out)|limited access to (?:my )?e-?mail|(?:return|back) (?:on|in the office)|when i return|upon my return|this is an automatic reply|this is an automated (?:reply|response|message)|automatic response|auto-?reply|(?:we|i) (?:have )?received your (?:message|e-?mail|request|enquiry|inquiry)|thank you for (?:your (?:e-?mail|message)|contacting)|awaits moderator approval|held until the list moderator`,
	// German, Dutch, French, Spanish, Italian, Portuguese
	`abwesend|bin (?:ab|bis) |nicht im büro|afwezig|absent du bureau|je suis absente?|en congé|fuera de la oficina|estoy de vacaciones|fuori ufficio|sono in ferie|fora do escritório|estou de férias`,
	// acknowledgements: German, French, Spanish, Portuguese, Italian, Dutch
	`vielen dank für ihre (?:nachricht|e-?mail|anfrage)|ist bei uns eingegangen|wir haben ihre (?:nachricht|e-?mail|anfrage) erhalten|nous avons bien reçu votre|accusé de réception|merci pour votre (?:message|e-?mail|courriel)|hemos recibido su (?:mensaje|correo|solicitud|consulta)|gracias por (?:su|tu) (?:mensaje|correo)|recebemos (?:a )?sua (?:mensagem|solicitação)|obrigad[oa] pel[oa] (?:sua|seu) (?:mensagem|e-?mail|contato)|abbiamo ricevuto (?:il (?:tuo|suo) messaggio|la (?:tua|sua) (?:email|richiesta))|grazie per (?:la (?:tua|sua) (?:email|mail)|averci contattato)|wij hebben uw (?:bericht|e-?mail) ontvangen|bedankt voor uw (?:bericht|e-?mail)`,
}

func phraseRE(prefix string, lists ...[]string) *regexp.Regexp {
	var all []string
	for _, l := range lists {
		all = append(all, l...)
	}
	return regexp.MustCompile(prefix + `(?:` + strings.Join(all, "|") + `)`)
}
