"""Text of the exports: NWEA column lists and code labels, and the word lists of fake but
plausible names (which exist only so that ingest can prove it drops them)."""

from __future__ import annotations

import numpy as np

#: AssessmentResults columns written, a subsequence of layout C (nwea_formats.md §1.1).
ASSESSMENT_COLUMNS = (
    "TermName", "DistrictName", "District_StateID", "SchoolName", "School_StateID", "StudentID",
    "Student_StateID", "Subject", "Course", "GrowthMeasureYN", "NormsReferenceData",
    "WISelectedAYFall", "WISelectedAYWinter", "WISelectedAYSpring", "TestType", "TestName",
    "TestID", "TestStartDate", "TestStartTime", "TestDurationMinutes", "TestRITScore",
    "TestStandardError", "TestPercentile", "AchievementQuintile", "PercentCorrect",
    "RapidGuessingPercentage", "FallToSpringProjectedGrowth", "FallToSpringObservedGrowth",
    "FallToSpringObservedGrowthSE", "FallToSpringMetProjectedGrowth",
    "FallToSpringConditionalGrowthIndex", "FallToSpringConditionalGrowthPercentile",
    "FallToSpringGrowthQuintile", "TypicalFallToSpringGrowth",
)  # fmt: skip
#: StudentsBySchool columns: the layout A/B roster with the 2020+ state-ID and NWEA-standard
#: fields placed as in the 2020+ Combined file (the exact 2020+ header is unverified, §1.2).
STUDENT_COLUMNS = (
    "TermName", "DistrictName", "District_StateID", "SchoolName", "School_StateID",
    "StudentLastName", "StudentFirstName", "StudentMI", "StudentID", "Student_StateID",
    "StudentDateOfBirth", "StudentEthnicGroup", "NWEAStandard_EthnicGroup", "StudentGender",
    "Grade", "NWEAStandard_Grade",
)  # fmt: skip
SCHOOL_COLUMNS = (
    "district_name", "school_name", "nces_id", "sector", "pl_start_year", "frl_pct", "locale",
)  # fmt: skip

# Test subjects: math, reading and Language Usage (which ingest sets aside; it uses the
# reading norms here because the shipped table has none of its own, and has no planted effect).
SUBJECT = ("Mathematics", "Language Arts", "Language Arts")
COURSE = ("Math K-12", "Reading", "Language Usage")
TEST_NAMES = (  # by grade band K-1, 2-5, 6+
    "Growth: Math K-2 CCSS 2010 V2", "Growth: Math 2-5 CCSS 2010 V2",
    "Growth: Math 6+ CCSS 2010 V2", "Growth: Reading K-2 CCSS 2010 V4",
    "Growth: Reading 2-5 CCSS 2010 V4", "Growth: Reading 6+ CCSS 2010 V4",
    "Growth: Language 2-12 CCSS 2010 V2", "Growth: Language 2-12 CCSS 2010 V2",
    "Growth: Language 2-12 CCSS 2010 V2",
)  # fmt: skip
QUINTILES = ("Low", "LoAvg", "Avg", "HiAvg", "High")
MET = ("No", "No*", "Yes", "Yes*")
GRADES = ("K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")
NWEA_ETHNIC = (
    "American Indian or Alaska Native", "Asian", "Black or African American",
    "Hispanic or Latino", "Multi-ethnic", "Native Hawaiian or Other Pacific Islander",
    "Not Specified or Other", "White",
)  # fmt: skip
DISTRICT_ETHNIC = (  # a district's own labels for the same groups
    "American Indian", "Asian", "Black", "Hispanic", "Two or More Races", "Pacific Islander",
    "Other", "White",
)  # fmt: skip
#: Shares among students of colour of the first seven groups above (White is the rest).
ETHNIC_SHARES = np.array([0.02, 0.07, 0.38, 0.45, 0.06, 0.01, 0.01])

# Word lists for fake but plausible names (they exist only so ingest can prove it drops them).
PLACES = (
    "Alder Creek", "Ashford", "Bayview", "Bellmont", "Birch Hollow", "Bramblewood", "Brookfield",
    "Cedar Falls", "Clearwater", "Coldspring", "Crestview", "Dalton", "Eastbrook", "Elm Grove",
    "Fairhaven", "Fox Run", "Glenwood", "Granite Bay", "Greenfield", "Harbor City", "Hawthorne",
    "Highland Park", "Hillcrest", "Iron Ridge", "Jasper", "Kingsport", "Lake Forest", "Laurel",
    "Linden", "Maple Valley", "Marion", "Meadowbrook", "Millbrook", "Northgate", "Oak Harbor",
    "Oakridge", "Pine Bluff", "Pleasant Hill", "Port Allen", "Red Rock", "Ridgeway", "Riverside",
    "Rockport", "Sandy Point", "Shelby", "Silver Lake", "Southport", "Springdale", "Stonebridge",
    "Sunnyvale", "Timberline", "Union City", "Valley View", "Westfield", "Whitewater",
    "Willow Springs", "Windham", "Woodland", "Yorktown", "Zephyr Cove",
)  # fmt: skip
DISTRICT_KINDS = (
    "Unified School District", "Public Schools", "School District", "City Schools",
    "County Schools", "Independent School District",
)  # fmt: skip
CMO_WORDS = (
    "Ascend", "Beacon", "Bright Futures", "Catalyst", "Compass", "Crossroads", "Discovery",
    "Elevate", "Empower", "Excel", "Frontier", "Horizon", "Ignite", "Innovate", "Journey",
    "Keystone", "Launch", "Legacy", "Lighthouse", "Momentum", "New Vision", "Northstar",
    "Pathways", "Pinnacle", "Prodigy", "Quest", "Rise", "Summit", "Thrive", "Vanguard",
)  # fmt: skip
CMO_KINDS = (
    "Public Charter Schools", "Charter Academies", "Preparatory Network", "Collegiate Schools",
    "Public Schools",
)  # fmt: skip
NAMESAKES = (
    "Lincoln", "Washington", "Jefferson", "Roosevelt", "Franklin", "Kennedy", "King", "Douglass",
    "Chavez", "Tubman", "Parks", "Carver", "Edison", "Hamilton", "Madison", "Monroe", "Jackson",
    "Adams", "Grant", "Garfield", "Hoover", "Truman", "Wilson", "Whitman", "Twain", "Emerson",
    "Thoreau", "Longfellow", "Dickinson", "Hughes", "Angelou", "Morrison", "Keller", "Earhart",
    "Curie", "Einstein", "Sagan", "Ride", "Jemison", "Johnson", "Banneker", "Bethune", "Du Bois",
    "Marshall", "Sotomayor", "Ginsburg", "Clemente", "Robinson", "Owens", "Thorpe", "Sequoyah",
    "Tecumseh", "Sacagawea", "Lewis", "Clark", "Muir", "Audubon", "Carson", "Oak Park", "Maple",
    "Cedar", "Pine", "Willow", "Birch", "Aspen", "Sycamore", "Magnolia", "Juniper", "Sunrise",
    "Sunset", "Lakeside", "Hillside", "Riverview", "Parkview", "Meadow", "Prairie", "Canyon",
    "Mesa", "Valley", "Highland", "Westside", "Eastside", "Northside", "Southside", "Central",
    "Harbor", "Bayside", "Brookside", "Fairview", "Greenway", "Rosewood", "Cherry Hill",
    "Forest Glen", "Stone Creek", "Heritage", "Liberty", "Pioneer", "Discovery", "Horizon",
    "Gateway",
)  # fmt: skip
SCHOOL_KINDS = ("Elementary School", "K-8 School", "Middle School", "High School")
CHARTER_KINDS = (
    "Elementary Academy", "Community Academy K-8", "Preparatory Academy",
    "Early College High School",
)  # fmt: skip
FIRST_NAMES = (  # female then male, 20 each
    "Aaliyah", "Amara", "Ana", "Brianna", "Camila", "Chloe", "Destiny", "Emily", "Gabriela",
    "Hannah", "Imani", "Isabella", "Jasmine", "Kayla", "Leah", "Maria", "Mia", "Nevaeh", "Sofia",
    "Zoe", "Aiden", "Andre", "Carlos", "Daniel", "Darius", "Elijah", "Ethan", "Gabriel", "Isaiah",
    "Jayden", "Jose", "Josiah", "Kevin", "Liam", "Luis", "Malik", "Mateo", "Noah", "Omar", "Xavier",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Alvarez", "Brown", "Campbell", "Castillo", "Chen", "Davis", "Diaz", "Evans",
    "Flores", "Garcia", "Gomez", "Green", "Hall", "Harris", "Hernandez", "Jackson", "Johnson",
    "Jones", "Kim", "Lee", "Lopez", "Martin", "Martinez", "Miller", "Moore", "Nguyen", "Patel",
    "Perez", "Ramirez", "Robinson", "Rodriguez", "Sanchez", "Scott", "Smith", "Taylor", "Thomas",
    "Torres", "Walker", "Williams", "Wilson", "Young",
)  # fmt: skip
#: State FIPS codes used for NCES ids (several with a leading zero: Alabama 01 ... Colorado 08).
STATE_FIPS = ("01", "04", "06", "08", "12", "13", "17", "18", "22", "26", "36", "37", "39",
               "42", "47", "48", "53", "55")  # fmt: skip
