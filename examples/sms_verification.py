"""Send a verification code through the SMS topic, as an application does on MNS,
and watch it arrive: the handset inbox, the SmsReport receipt, a reply in SmsUp.

Runs in-process on a virtual clock (the carrier's 1 s latency passes at once):

    python examples/sms_verification.py
"""

import json

import trio
import trio.testing

import minimns
from minimns import TopicMessage


async def main() -> None:
    async with minimns.open_broker() as broker:
        sms = broker.sms
        await sms.add_signature("阿里云")  # reviewed at once (review_delay_ms=0)
        template = await sms.add_template("login", "您的验证码为${code}，5分钟内有效", "verification")
        receipts = await sms.subscribe("SmsReport")
        replies = await sms.subscribe("SmsUp")

        # What the application does: publish to the region's SMS topic with DirectSMS.
        topic = broker.get_topic(sms.topic_name)
        await topic.publish_message(TopicMessage("sms-message", direct_sms={
            "FreeSignName": "阿里云", "TemplateCode": template.code, "Type": "singleContent",
            "Receiver": "13800000000", "SmsParams": json.dumps({"code": "482913"}),
        }))
        # The receipt comes after the carrier's 1 s latency (virtual: at once): long-poll for it.
        receipt = await broker.get_queue(receipts).receive_message(wait_seconds=5)
        print("receipt:", receipt.message_body)
        print("the phone shows:", sms.inbox("13800000000")[0].text)

        await sms.reply("13800000000", "收到，谢谢")
        reply = await broker.get_queue(replies).receive_message()
        print("reply:", reply.message_body)

        # A second code within the minute is refused: 1 per minute per number and signature.
        await topic.publish_message(TopicMessage("sms-message", direct_sms={
            "FreeSignName": "阿里云", "TemplateCode": template.code, "Type": "singleContent",
            "Receiver": "13800000000", "SmsParams": json.dumps({"code": "111111"}),
        }))
        print("codes sent to the number:", len(sms.records("13800000000")))


trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
