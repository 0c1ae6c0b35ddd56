"""The crisis vocabulary as data: one row per rule, read top to bottom like a checklist.

Every pattern is matched on the normalized text (see normalize.py: simplified, half-width,
lower-case, separators removed, clause marks unified to "，" and sentence marks to "。"), so
patterns are written in simplified characters only. `%NAME%` placeholders expand to the shared
vocabularies below. `G` is a short gap that never crosses a clause or sentence boundary.

Columns of a rule:
- id: stable name shown in explanations and logs ("ideation.not_live").
- category: what the user reveals about themselves when the speaker is the user.
- negatable: False when the phrase already carries its own negation ("没有活下去的理由",
  "想死又不敢") so that a negation in front must not cancel it.
- needs: a pattern that must also occur in the same sentence (for words that are only about
  suicide in context, e.g. 洗胃 or 抢救).
- others_only: an event that only matters when it happened to someone the user knows
  ("我室友割腕了"); it never describes the user's own risk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CATEGORIES = (
    "suicide_preparation",
    "suicide_plan",
    "harm_to_others",
    "suicidal_ideation",
    "past_attempt",
    "self_harm",
    "third_party_risk",
)
"""User-turn categories, most urgent first: the primary category of an assessment is the first
one of this tuple that matched (see docs/safety.md for why this order)."""

OUTPUT_CATEGORIES = ("method_information", "encourages_harm")

SEVERITY = {
    "suicide_preparation": 4,  # acting now or about to: means at hand, farewell, on the roof
    "suicide_plan": 3,
    "harm_to_others": 3,
    "suicidal_ideation": 2,
    "past_attempt": 2,
    "self_harm": 2,
    "third_party_risk": 1,
    "method_information": 3,
    "encourages_harm": 3,
}

VOCAB = {
    "G": r"[^，。]{0,6}",
    "INTENT": r"(?:要不要|想不想|是不是该|想|要|打算|准备|计划|决定|考虑|想着|想要|真想|好想|很想|干脆|不如|还不如|就|会|去|该|得)",
    "METHOD": (
        r"(?:跳楼|跳河|跳江|跳海|跳湖|跳桥|跳崖|跳过(?:楼|河|江|海|桥)|跳轨|卧轨|上吊|吊死|自缢|烧炭|服毒|"
        r"喝(?:农药|毒药|百草枯|敌敌畏)|吞(?:安眠)?药|吃安眠药|割腕自杀|割喉|割动脉|投河|投江|开煤气|"
        r"撞(?:火)?车|从(?:这里|这儿|[^，。]{0,8}(?:楼|楼上|楼顶|天台|阳台|窗户|窗台|桥|顶楼))(?:上)?跳(?:下去|下来)?|跳下去|"
        r"吃(?:一整瓶|一瓶|整瓶|所有的?|全部的?|一大把|一把)(?:的)?(?:安眠)?药|饿死自己|把自己饿死|"
        r"淹死自己|撞死自己|吊在)"
    ),
    "PERSON": (
        r"(?:他们|她们|他|她|你们|你|那个人|这个人|那些人|那群人|这群人|所有人|全班|(?:他|她)?全家|(?:他|她)?一家|"
        r"(?:那个|这个|那些|那)?(?:贱人|混蛋|畜生|渣男|人渣|王八蛋|狗东西)|欺负我的人|霸凌我的人|"
        r"(?:我的?)?(?:爸爸|爸|妈妈|妈|父亲|母亲|继父|继母|后妈|老公|老婆|丈夫|妻子|前男友|前女友|前夫|前妻|"
        r"前任|男朋友|女朋友|男友|女友|室友|舍友|同事|老板|领导|上司|经理|主管|老师|班主任|同学|邻居|婆婆|"
        r"公公|岳父|岳母|姐姐|哥哥|弟弟|妹妹|孩子|儿子|女儿|宝宝|小三)|人)"
    ),
    "KILL": r"(?:杀了|杀死|弄死|砍死|捅死|掐死|打死|毒死|烧死|宰了|干掉|砍了|捅了|揍死|勒死|撞死|杀|砍|捅|推下楼)",
    "PAST": r"(?:[0-9两三四五六七八九十几]+(?:个月|年)前|曾经|以前|之前|上次|去年|前年|小时候|初中|高中|大学|那年|那时|几年前|有一次|两次|好几次|多次|那次)",
}


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    pattern: str
    negatable: bool = True
    needs: str | None = None
    others_only: bool = False
    unless: str | None = None  # a harmless purpose in the same sentence cancels it ("买了木炭周末烧烤")


R = Rule
RULES: tuple[Rule, ...] = (
    # --- preparation: acts that make death possible soon -----------------------------------
    R("prep.note", "suicide_preparation", r"(?:写|留|写好|写完|写了|准备|打好)%G%(?:遗书|绝笔|告别信)|遗书|绝笔信"),
    R("prep.last_words", "suicide_preparation", r"(?:留|写|说|最后的)%G%遗言|遗言(?:都|已经)?(?:写好|录好|留好)"),
    R("prep.stockpile", "suicide_preparation",
      r"(?:囤|攒|屯|收集|偷偷存|存了)%G%(?:安眠药|药片|药|农药)|(?:安眠药|药片|药)[^，。]{0,4}(?:囤|攒|屯|存)(?:起来|了|着|够)"),
    R("prep.means", "suicide_preparation",
      r"买(?:了|好了?)%G%(?:安眠药|农药|百草枯|敌敌畏|毒药|木炭|炭|绳子|麻绳)|(?:绳子|炭|木炭)(?:都|已经)?(?:买好|准备好|备好|挂好|系好)了?|"
      r"把绳子(?:挂|系)(?:在|到|好)",
      unless=r"烧烤|搬家|装修|做饭|露营|取暖|晾|捆|打包|跳绳|种|花|杀虫|除草|果树|地里"),
    R("prep.affairs", "suicide_preparation",
      r"(?:交代|安排)(?:好)?(?:了)?后事|身后事|后事(?:都)?(?:安排|交代|准备)|"
      r"(?:死后|死了以后|死了之后|走了以后)[^。]{0,8}(?:送给|留给|托付|交给|照顾|帮我|拜托)"),
    R("prep.farewell", "suicide_preparation",
      r"永别了|下辈子见|来生再见|(?:跟|和|向)?(?:这个)?世界(?:说)?再见|再见了?(?:这个)?世界|"
      r"最后一(?:次|条)(?:和你|跟你|给你)?(?:说话|聊天|消息|留言)|(?:和|跟|向)(?:大家|所有人|家人|你)(?:永远)?告别"),
    R("prep.at_edge", "suicide_preparation",
      r"(?:站在|坐在|爬上|来到|到了|现在在|正在)(?:了)?%G%(?:天台|楼顶|顶楼|窗台|桥上|桥边|栏杆外|铁轨|楼边)"
      r"[^。]{0,12}(?:跳|往下|好高|最后|告别|不想活|死)|"
      r"(?:已经|现在|正)(?:站|坐)?在(?:了)?(?:天台|楼顶|顶楼|窗台|桥上|桥边|栏杆外|铁轨|楼边)(?:上|边)?了?"),
    R("prep.acting", "suicide_preparation",
      r"把(?:一整瓶|一瓶|整瓶|所有的?|全部)[^，。]{0,4}药[^，。]{0,3}(?:全|都)?(?:吃|吞)(?:了|掉|下)|(?:吃|吞|服|喝)(?:了|下|掉)%G%(?:一整瓶|一瓶|整瓶|几十|好几十|一大把|一把|所有的?|全部)[^，。]{0,3}(?:安眠药|药|片)|"
      r"(?:吞|喝)(?:了|下)%G%(?:农药|百草枯|敌敌畏|毒药)|(?:煤气|炭)(?:已经)?(?:开了|点上了|点着了|烧起来了)"),
    R("prep.research", "suicide_preparation",
      r"(?:查|搜|搜索|百度|研究)(?:了|过|好)?%G%(?:自杀方法|自杀的方法|死法|怎么死|致死量|无痛自杀|怎么自杀|怎样自杀|如何自杀)"),
    # --- plan: a method, a time or a place is decided or sought ----------------------------
    R("plan.method", "suicide_plan", r"%INTENT%(?:过)?(?:去|直接|自己|偷偷)?%METHOD%|跳(?:进去|下去)(?:就)?(?:结束|解脱|一了百了|死)"),
    R("plan.method_then", "suicide_plan", r"%METHOD%(?:算了|了事|自杀|结束|一了百了|死了算了|解脱)"),
    R("plan.decided", "suicide_plan",
      r"(?:决定|准备|打算|计划)(?:好了?)?[^，。]{0,4}(?:自杀|去死|死|结束(?:自己|生命|我的生命)|了结自己)|"
      r"(?:想好|选好|找好|定好)了?(?:怎么死|死法|在哪(?:里)?死|哪天死|日子|地方|时间)|"
      r"(?:^|(?<=[，。]))(?:日子|地方|时间|位置)(?:我)?(?:都|也|已经)(?:选|找|定|想)好了"),
    R("plan.when", "suicide_plan",
      r"(?:今天|今晚|明天|明晚|后天|周末|这周|下周|月底|年底|过年|生日|考完|毕业|等)[^，。]{0,8}(?:就|我就)?(?:去)?"
      r"(?:死|自杀|结束(?:自己|生命)|了结|跳楼|跳下去|离开这个世界)"),
    R("plan.seek_method", "suicide_plan",
      r"(?:怎么|怎样|如何)(?:自杀|才能死|死(?:得)?(?:最|比较)?(?:快|不痛|没有?痛苦|舒服|干脆))|"
      r"(?:无痛|不痛苦|没有痛苦|最快|最轻松)的?(?:自杀|死法|死亡方式)|"
      r"(?:几楼|多高)(?:跳下去)?(?:才)?(?:会|能)(?:死|摔死)|(?:吃|吞)多少(?:片|粒|颗)?[^，。]{0,6}(?:才|就)?(?:会|能)死|"
      r"割(?:哪里|多深)(?:才|会|能)|致死量"),
    # --- harm to others -----------------------------------------------------------------
    R("others.kill", "harm_to_others",
      r"(?:想|要|会|真想|恨不得|打算|准备|计划|决定|控制不住(?:想)?|忍不住(?:想)?)[^，。]{0,4}%KILL%%PERSON%"),
    R("others.kill_object", "harm_to_others",
      r"(?:想|要|会|真想|恨不得|打算|准备)[^，。]{0,4}把[^，。]{0,8}?%PERSON%(?:给)?(?:杀了|杀死|弄死|砍死|捅死|掐死|打死|毒死|宰了|干掉)"),
    R("others.kill_people", "harm_to_others",
      r"(?:想|要|真想|恨不得|打算|准备)[^，。]{0,3}(?:杀人|砍人|捅人)|报复社会|同归于尽|拉[^，。]{0,4}(?:垫背|陪葬)|"
      r"(?:在|往)[^，。]{0,6}(?:饭|水|杯|汤|菜)里(?:下|放|投)(?:毒|药|老鼠药)|下毒|投毒"),
    R("others.hurt", "harm_to_others",
      r"(?:想|要|控制不住(?:想)?|忍不住(?:想)?|害怕自己会)(?:去)?伤害(?:别人|他人|孩子|宝宝|家人|他|她|我的孩子|我妈|我爸)"),
    # --- ideation: wishing to be dead, active or passive ----------------------------------
    R("ideation.not_live", "suicidal_ideation",
      r"不想活|不愿活|不要活了|活不下去|活不成了|不想再活|不想继续活|活够了|活腻了|没法活了|没办法活下去"),
    R("ideation.want_die", "suicidal_ideation",
      r"(?:想|想要|要)(?:去)?死|去死|求死|寻死|寻短见|一死了之|以死(?:解脱|谢罪)"),
    R("ideation.better_dead", "suicidal_ideation",
      r"死(?:了|掉)[^，。]{0,3}?(?:算了|就好了|就解脱|就不用|也好|挺好|不错|倒好|干净|一了百了)|不如(?:去)?死|还不如死"),
    R("ideation.suicide_words", "suicidal_ideation",
      r"(?:想|要|会|想过|想着|想到|要不要|想不想)(?:去)?(?:自杀|轻生)|(?:自杀|轻生|死)的(?:念头|想法|冲动)|"
      r"有(?:过)?自杀|(?:想|怕|会|差点|忍不住|控制不住)(?:自己)?(?:会)?(?:去)?做(?:出)?傻事|一时想不开|怕我(?:会)?想不开"),
    R("ideation.courage", "suicidal_ideation",
      r"没(?:有)?勇气(?:去)?(?:死|自杀)|不敢(?:去)?(?:死|自杀)|下不了手|(?:死|自杀)的勇气", negatable=False),
    R("ideation.meaningless", "suicidal_ideation",
      r"活着(?:真的|真是|真|好|太|很|也|都|实在)?(?:没|没有)(?:什么)?(?:意思|意义|劲|盼头|价值|希望)|"
      r"活着[^，。]{0,4}(?:有|还有)什么(?:意思|意义|用|盼头)|活着(?:干嘛|干什么|为了什么|图什么)|"
      r"活着(?:真是|真|好|太|很|特别|实在|就是|就)?(?:痛苦|煎熬|是一种折磨|一种折磨|受罪|是种折磨|折磨)|"
      r"活下去的(?:意义|理由|动力|勇气|希望)(?:都)?(?:没|没有|找不到)|(?:没有|没|找不到)(?:活下去|活着)的(?:意义|理由|动力|勇气|希望)|"
      r"为什么(?:还)?(?:要)?活着|为了什么(?:还)?活着", negatable=False),
    R("ideation.disappear", "suicidal_ideation",
      r"想(?:从(?:这个)?世界(?:上)?)?(?:永远)?消失|(?:永远|彻底)(?:地)?消失|消失(?:算了|就好了|了就好|掉就好)|"
      r"(?:我|自己)(?:不存在|没出生|没被生下来)(?:就好了|多好|该多好|就好)|不想存在|"
      r"(?:没有|没了|少了)我[^。]{0,8}(?:会更好|更好|更轻松|都轻松|会轻松|就好了)|"
      r"(?:我|自己)(?:就|真的|只|根本|就只)?是[^，。]{0,4}?(?:个|一个)?(?:累赘|负担|拖累|多余的)|"
      r"不该(?:被)?(?:出生|生下来)|后悔(?:出生|来到这个世界|被生下来)|"
      r"(?:希望|但愿|巴不得|恨不得)(?:自己|我)[^，。]{0,8}死(?:掉|了)?|(?:想|希望)[^，。]{0,8}被车撞死|"
      r"(?:对这个世界|对人世|对生活)?(?:已经)?(?:没有|没什么|毫无)(?:任何)?(?:留恋|牵挂)"),
    R("ideation.sleep", "suicidal_ideation",
      r"(?:永远|一直)(?:睡着|睡下去)(?:就好|多好|算了)|(?:一觉|睡着|睡过去)(?:了)?(?:就)?(?:再也)?(?:不|别)(?:要)?醒|不想(?:再)?醒(?:来|过来)(?!上班|上学|上课|干活|工作)|再也不要醒|"
      r"明天不要醒|一睡不醒|永远睡下去|永远闭上眼"),
    R("ideation.end", "suicidal_ideation",
      r"(?:想|要|打算|准备|想要|就|会|好想)(?:永远)?离开(?:这个)?(?:世界|人世)|"
      r"结束(?:我的|自己的)?(?:生命|这条命)|结束(?:这)?一切|结束自己|了结(?:自己|生命|此生|这一生|残生)|自我了断|了断自己|"
      r"(?:想|就|干脆|不如|好想|真想|可以)一了百了|一了百了(?:算了|吧)|(?:彻底|永远|永久)(?:地)?解脱|死(?:了|掉)?(?:就|才)(?:能)?解脱"),
    R("ideation.hypothetical", "suicidal_ideation",
      r"(?:如果|要是|假如|哪天|等)我死了|我死了(?:以后|之后)?[^，。]{0,6}(?:会有人|有人会|谁会|大家|他们|你们|爸妈|家人|所有人)"
      r"[^，。]{0,6}(?:在乎|难过|伤心|发现|记得|更好|都好|好|轻松|解脱|哭)|(?:我|自己)死后"),
    R("ideation.slang", "suicidal_ideation",
      r"紫砂|紫杀|自鲨|自沙|自s|zisha|(?:想|要|去)zs|人生重开|重开人生|想重开|(?:想|早点|赶紧)(?:去)?投胎|重新投胎|"
      r"wanttodie|killmyself|endmylife|suicidal|想安乐死"),
    # --- past attempts -------------------------------------------------------------------
    R("attempt.past", "past_attempt",
      r"自杀(?:过|未遂|未果|史)|有过[^，。]{0,4}自杀(?:的)?(?:经历|行为)|自杀(?:没|没有)(?:成功|死成)|(?:试|尝试)(?:过|着)(?:去)?(?:自杀|结束(?:自己|生命)|去死)|"
      r"%PAST%[^。想念]{0,12}(?:自杀|跳楼|跳河|跳江|上吊|烧炭|吞药|吞了?[^，。]{0,4}安眠药|吃了?[^，。]{0,6}安眠药|服毒|"
      r"喝(?:了|过)?农药|跳过(?:楼|河|江|海|桥)|吃了?(?:一整瓶|一瓶|整瓶|一大把|所有的?)[^，。]{0,3}药)"),
    R("attempt.rescued", "past_attempt",
      r"洗(?:过)?胃|被(?:送去|送到|拉去)?(?:医院)?抢救|抢救(?:了)?(?:回来|过来)|被救(?:了)?(?:回来|下来|过来|上来)|救上来|没死成|捡回(?:一条|了)命",
      needs=r"自杀|轻生|跳楼|跳河|跳江|割腕|上吊|烧炭|安眠药|药|吞|农药|死"),
    # --- self-harm -----------------------------------------------------------------------
    R("selfharm.words", "self_harm", r"自残|自伤|自虐|伤害自己|弄伤自己|惩罚自己的身体"),
    R("selfharm.cut", "self_harm",
      r"割腕|割手腕|划手腕|划手(?!机)|(?:割|划|刮|扎|戳)(?:了|过|伤|破)?(?:自己|手腕|手臂|胳膊|大腿|手背|皮肤)|"
      r"(?:拿|用)(?:刀|刀片|小刀|美工刀|圆规|玻璃|剪刀)[^，。]{0,6}(?:划|割|刮|扎)|(?:划|割)(?:了)?(?:个|道)?口子|(?:划|割)(?:了)?[^，。]{0,3}(?:好几|几|很多|好多|两|三|十几)(?:刀|道)"),
    R("selfharm.other_means", "self_harm",
      r"(?:扎|戳|烫|打|扇|掐|咬|抓|捶|撞)(?:伤)?自己|烟头烫|(?:拽|揪|拔)(?:自己的?)?头发|(?:拿|用)头撞|撞墙(?:撞)?到(?:流血|出血)|饿自己"),
    R("selfharm.relief", "self_harm",
      r"(?:只有|靠|用)(?:疼|痛|疼痛)[^，。]{0,12}(?:清醒|好受|活着|平静|舒服|解脱)|看(?:到|见)(?:血|流血)[^，。]{0,4}(?:才|就)?(?:会)?(?:好受|舒服|平静|安心|放松)|"
      r"(?:手上|手腕上|胳膊上|手臂上|腿上)[^，。]{0,4}(?:都是|全是|好多|很多|一道道|一条条)[^，。]{0,6}(?:疤|伤痕|刀痕|划痕|伤口)"),
    # --- events that only matter when they happen to someone the user knows ---------------
    R("event.suicide", "third_party_risk",
      r"(?:自杀|跳楼|跳河|跳江|上吊|烧炭|轻生|服毒)(?:了|身亡|去世|死了|走了)", others_only=True),
)

# Phrases that look like crisis words but are not (idioms, hyperbole, commerce, games, topics).
# They are blanked out before matching; blanking keeps offsets, so spans stay exact.
HARD_NEGATIVES = (
    r"跳楼价|跳楼(?:大)?甩卖|跳楼清仓|紫砂(?:壶|锅|杯|茶|泥|陶|盆)|"
    r"想死(?:你|您|宝|大家|他|她|它)|想死我了|"
    r"(?:笑|累|热|冷|困|饿|尴尬|丢人|丢脸|丢|羞|社|美|帅|馋|渴)(?:得|的)?(?:要|想)死|(?:说|骂|叫|咒)我(?:怎么不)?去死|"
    r"(?:研究|预防|了解|科普|讲|学习|关于)[^，。]{0,4}(?:自伤|自残|自杀)(?:行为|现象|问题)?|"
    r"(?:笑|累|热|冷|困|饿|气|烦|吓|急|忙|渴|撑|穷|憋|美|帅|丑|羡慕|嫉妒|烦|社|心疼)死|"
    r"去死吧你|死定了?|自杀式|自杀率|自杀干预|预防自杀|自杀预防|防止自杀|防自杀|反自杀|自杀热线|"
    r"杀人(?:游戏|犯|案|事件|狂|魔|小说|电影|蜂)|剧本杀|狼人杀|秒杀|杀毒|杀价|杀青|杀时间|杀死比赛|杀疯|"
    r"消失(?:一段时间|几天|一会儿?|一阵子?|一下)|不想活(?:在|成|得)|他妈的|妈的|"
    r"(?:恨不得|真想|想)(?:扇|打|抽)(?:自己|死自己)|不小心|自虐式|误食|误服|食物中毒|(?:各种|奇葩)死法"
)

SUBJECT_MARKERS = (
    # "我朋友" / "我的朋友" name someone else: tried before the bare 我
    r"(?P<other>(?:我的?)?(?:爸妈|爸爸妈妈|父母|家人|家里人|朋友|同学|室友|舍友|同事|闺蜜|兄弟|哥们|姐妹|邻居|爸爸|爸|妈妈|妈|父亲|母亲|爷爷|奶奶|"
    r"外公|外婆|姥姥|姥爷|哥哥|哥|姐姐|姐|弟弟|弟|妹妹|妹|老公|老婆|丈夫|妻子|男朋友|女朋友|男友|女友|对象|孩子|"
    r"儿子|女儿|学生|老师|领导|老板|表弟|表妹|表哥|表姐|堂弟|堂妹|室友|同桌|前任)|(?<!其)他们|(?<!其)她们|(?<!其)他|她)|"
    r"(?P<generic>有人|别人|人家|某人|博主|明星|主角|角色|男主|女主|作者|诗人|作家|男子|女子|男孩|女孩|少年|少女|"
    r"一名|一位|你们|你|您|大家|很多人|人们|他人|网友|患者|病人|来访者)|"
    r"(?P<self>我们|我|俺|本人|咱们|咱)"
)
# A person right after a preposition is an object, not the speaker ("和朋友吵架了，想死").
OBJECT_PREPOSITIONS = "和跟与同对给被把向为替陪找帮让叫"
# "他跟我说…" — here 我 is the listener, not the one at risk.
OBJECT_SELF = r"(?:跟|和|对|给|告诉|问|找|同|向)我(?:说|讲|发|聊)?"

NEGATION = (
    r"(?:不是|并不|并没有?|没有|没|从来?没有?|从未|未曾|不会|绝不|决不|绝对不|不可能|才不|哪有|不再|再也不|别|不要|不用|"
    r"不该|不能|一点也不|一点都不|不)"
    r"(?:我|自己|真的|真|是|会|想|要|去|过|再|曾经|曾|有|一直|还|也|都|已经|了|打算|算|想过|敢)*$"
)
# "是不是" / "要不要" / "忍不住" contain 不 but do not negate what follows.
NOT_NEGATIONS = r"是不是|要不要|会不会|能不能|想不想|不知道|不知|忍不住|受不了|控制不住|止不住|不得不|不由得|不停|不断|不禁|不行|不了|不下去|有没有"

# The sentence is about news, history, fiction or a topic, not about someone in the user's life.
REPORTED_CONTEXT = (
    r"新闻|报道|报导|据悉|据报|媒体|记者|警方|历史|课本|课上|教科书|小说|电影|电视剧|剧里|剧中|动漫|漫画|番剧|书里|书中|"
    r"故事|角色|主角|男主|女主|歌词|这首歌|游戏里|研究|调查|统计|数据|论文|文章|知乎|微博|热搜|明星|演员|作家|诗人|名人|"
    r"网红|艺人|某地|一名|一位|一男|一女|男子|女子|案件|事件|纪录片|科普|讲座|课程|题目|阅读理解|作文|预防"
)
# A hypothetical about someone else ("如果朋友想自杀…") is a question, not a report of risk.
HYPOTHETICAL = r"(?:如果|假如|假设|万一|要是)(?:我的|你的|身边的?|有)?(?:朋友|同学|家人|孩子|亲人|别人|有人|他|她)"
# "你知道…吗" asks the listener; the speaker is still the user.
ADDRESSEE = r"你(?:知道|说|觉得|认为|能不能|能|可以|告诉我|帮我|看)"
# "有自杀念头的朋友": the phrase describes someone else, unless the speaker says "我是…的人".
DESCRIBES_OTHER = r"[^，。]{0,4}的(?:人|朋友|同学|孩子|学生|患者|来访者|家人|亲人|青少年)"


def expand(pattern: str) -> str:
    for name, value in VOCAB.items():
        pattern = pattern.replace(f"%{name}%", value)
    if "%" in pattern:
        raise ValueError(f"unknown placeholder in pattern: {pattern}")
    return pattern


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    regex: re.Pattern
    needs: re.Pattern | None
    unless: re.Pattern | None


def compile_rules(rules: tuple[Rule, ...] = RULES) -> tuple[CompiledRule, ...]:
    compiled = []
    for rule in rules:
        if rule.category not in CATEGORIES:
            raise ValueError(f"rule {rule.id}: unknown category {rule.category}")
        compiled.append(
            CompiledRule(
                rule,
                re.compile(expand(rule.pattern)),
                re.compile(rule.needs) if rule.needs else None,
                re.compile(rule.unless) if rule.unless else None,
            )
        )
    return tuple(compiled)
